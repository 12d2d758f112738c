// The command table.

#include "cli/commands.hpp"

#include <algorithm>

namespace solver_state::cli {

const std::vector<command>& commands() {
  static const std::vector<command> table{
    {"get",
     "get KEY",
     "print a key's value",
     "Writes the value's bytes to stdout exactly (a newline is added only on "
     "a terminal).\n--json: {\"key\",\"value\" (base64),\"etag\"}.\n"
     "Exit 1 when the key is absent or expired.\n",
     {},
     run_get},
    {"put",
     "put KEY [FILE|-] [--ttl SECONDS] [--if-match ETAG | --if-none-match]",
     "write a key from a file or stdin",
     "The value is FILE's bytes, or stdin's when FILE is - or missing.\n"
     "Prints the new ETag.\n"
     "  --ttl SECONDS     expire SECONDS after this write (0: never)\n"
     "  --if-match ETAG   write only over this version (\"123\", 123 or *);\n"
     "                    exit 3 when it differs, 1 when the key is absent\n"
     "  --if-none-match   create only: exit 3 when the key exists\n",
     {{"--ttl", true}, {"--if-match", true}, {"--if-none-match", false}},
     run_put},
    {"del",
     "del KEY [--if-match ETAG] | del --prefix PREFIX",
     "delete a key, or every key under a prefix",
     "Succeeds also when the key is absent, unless --if-match is given:\n"
     "then exit 3 when the version differs, 1 when the key is absent.\n"
     "  --prefix PREFIX   delete every live key starting with PREFIX (not\n"
     "                    empty) and print how many were deleted\n"
     "--json with --prefix: {\"prefix\",\"deleted\"}.\n",
     {{"--if-match", true}, {"--prefix", true}},
     run_del},
    {"ls",
     "ls [PREFIX] [--limit N] [--page-size N]",
     "list keys in byte order",
     "Follows the listing page by page to its end, one key per line.\n"
     "  --limit N       at most N keys in all\n"
     "  --page-size N   keys asked per request (1..10000, default 1000)\n"
     "--json: {\"keys\":[...]}.\n",
     {{"--limit", true}, {"--page-size", true}},
     run_ls},
    {"batch-get",
     "batch-get KEY... [--keys-from FILE|-] [--batch-size N] "
     "[--skip-unreadable]",
     "read many keys",
     "One line per key, in the order given: KEY<TAB>VALUE (base64:... when "
     "the value\nis not one line of text) or KEY<TAB>(not found). Asks again "
     "for the keys a\nreply leaves unprocessed, and sends at most "
     "--batch-size keys per request.\n"
     "A value the service cannot read (a damaged value file, a value sealed "
     "under a\nkey no longer configured) fails its batch, unless:\n"
     "  --skip-unreadable  print KEY<TAB>(unreadable: WHY) for it, read the "
     "rest, and\n                     exit 5 when any was unreadable\n"
     "  --keys-from FILE   more keys, one per line (- for stdin)\n"
     "  --batch-size N     keys per request (default 1000, the service's "
     "limit)\n"
     "--json: {\"items\":[{\"key\",\"value\" (base64 or "
     "null),\"etag\",\"error\"?}...]}.\n",
     {{"--keys-from", true},
      {"--batch-size", true},
      {"--skip-unreadable", false}},
     run_batch_get},
    {"health",
     "health",
     "check liveness and readiness",
     "Asks /healthz and /readyz. Exit 4 when the service is not ready or "
     "not there.\n--json: {\"healthz\",\"readyz\",\"message\"?}.\n",
     {},
     run_health},
    {"metrics",
     "metrics [--grep TEXT]",
     "print the Prometheus metrics",
     "  --grep TEXT   only the lines that contain TEXT\n"
     "--json: {\"metrics\":\"<text>\"}.\n",
     {{"--grep", true}},
     run_metrics},
    {"export",
     "export [PREFIX] [-o FILE] [--skip-unreadable]",
     "dump keys as NDJSON",
     "Streams GET /v1/export: one {\"key\",\"value\",\"expires_at_ms\"} per "
     "line, in key\norder, to stdout or FILE (written under a temporary name "
     "and renamed when\ncomplete). With -o, prints how many keys it wrote.\n"
     "A value the service cannot read (a damaged value file, a value sealed "
     "under a\nkey no longer configured) fails the export, unless:\n"
     "  --skip-unreadable   leave such values out and finish the export; when "
     "any\n                      were, says how many on stderr (the service's "
     "log names\n                      them) and exits 5.\n",
     {{"-o", true, "--output"}, {"--output", true},
      {"--skip-unreadable", false}},
     run_export},
    {"import",
     "import FILE|- [--chunk-bytes N] [--max-value-bytes N]",
     "load an NDJSON export",
     "Checks every line first, with the service's rules (a JSON object of "
     "\"key\" or\n\"key_base64\", a base64 \"value\" of at most "
     "--max-value-bytes (default 16777216,\nthe service's default "
     "state.max_value_bytes) and \"expires_at_ms\" null or a\npositive "
     "number; nothing else) and sends nothing if one is bad (exit 2, naming"
     "\nthe line). Then sends the file in bodies of whole lines, each at "
     "most\n--chunk-bytes (default 4194304). Prints how many keys were "
     "imported and how\nmany lines were skipped as already expired.\n",
     {{"--chunk-bytes", true}, {"--max-value-bytes", true}},
     run_import},
    {"train-dictionary",
     "train-dictionary PREFIX -o FILE [--size BYTES] [--samples N]",
     "train a zstd dictionary on stored values",
     "Reads the values under PREFIX through the export (at most --samples, "
     "default\n10000, or 64 MiB), trains a zstd dictionary of at most --size "
     "bytes (default\n16384) on them and writes it to FILE. List it first under "
     "state.compression.\ndictionaries (type: zstd) and restart: new values are "
     "compressed with it, older\nones stay readable.\n",
     {{"-o", true, "--output"}, {"--output", true}, {"--size", true},
      {"--samples", true}},
     run_train_dictionary},
    {"txn",
     "txn [FILE|-]",
     "apply several writes all or nothing",
     "Sends FILE's (or stdin's) {\"operations\":[...]} to POST "
     "/v1/state/transaction\n(docs/api.md): every operation is applied, or "
     "none. Prints KEY<TAB>ETAG\nfor every key set. Exit 3 when a condition "
     "did not hold (nothing written).\n--json: {\"etags\":{...}}.\n",
     {},
     run_txn},
    {"watch",
     "watch [PREFIX] [--from ID]",
     "follow changes under a prefix",
     "Streams GET /v1/watch: one line per committed change under PREFIX "
     "(default: every\nkey), EVENT<TAB>KEY<TAB>ETAG, EVENT being put, delete "
     "or expire, until\ninterrupted. \"resync<TAB>REASON\" means changes were "
     "missed: read the state again.\n--from ID resumes after an event id "
     "(--json shows them). Exit 4 when the\nservice ends the stream (it "
     "dropped a watcher that fell behind, or it\nstopped); the message names "
     "the id to resume from.\n--json: one {\"event\",\"id\",\"key\","
     "\"etag\",\"value\" (base64)} per line.\n",
     {{"--from", true}},
     run_watch},
    {"query",
     "query [PREFIX] [--where 'INDEX OP [VALUE]']... [--order-by INDEX] "
     "[--desc] [--values] [--limit N] [--page-size N] | query --body FILE|-",
     "find keys by indexed fields",
     "Asks POST /v1/query (docs/queries.md) page by page to its end, one key "
     "per line:\nKEY<TAB>ETAG, or KEY<TAB>ETAG<TAB>VALUE with --values "
     "(base64:... when the\nvalue is not one line of text).\n"
     "  --where 'INDEX OP [VALUE]'  a condition; all of them must hold. OP is "
     "one of\n      eq ne in nin lt lte gt gte exists. VALUE is JSON when it "
     "parses as JSON\n      (1800000000, \"42\", [\"a\",\"b\"]), else the text "
     "as it is\n"
     "  --order-by INDEX  in that index's order (else key order)\n"
     "  --desc            the other way round\n"
     "  --values          print each value too\n"
     "  --limit N         at most N keys in all\n"
     "  --page-size N     keys asked per request (1..1000, default 100)\n"
     "  --body FILE|-     send this query body instead of building one\n"
     "--json: {\"items\":[{\"key\",\"etag\",\"value\"?}...]}.\n",
     {{"--where", true},
      {"--order-by", true},
      {"--desc", false},
      {"--values", false},
      {"--limit", true},
      {"--page-size", true},
      {"--body", true}},
     run_query},
  };
  return table;
}

const command* find_command(const std::string& name) {
  auto& table = commands();
  auto it = std::find_if(table.begin(), table.end(),
                         [&](const command& c) { return c.name == name; });
  return it == table.end() ? nullptr : &*it;
}

} // namespace solver_state::cli
