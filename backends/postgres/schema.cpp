// The PostgreSQL store's schema, checked in the catalog on every new
// connection and created (or updated) only where something is missing.

#include "backends/postgres/schema.hpp"

#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

/// A trigger on the store's table and the plpgsql function it runs, both
/// named `name`.
struct table_trigger {
  std::string name;
  /// The function's source between its $f$ quotes: what pg_proc.prosrc
  /// holds, compared as it is, so a new version of a function is noticed.
  std::string source;
  /// What follows CREATE TRIGGER <name>, up to EXECUTE FUNCTION.
  std::string fires;
  /// `fires` as pg_trigger records it: tgtype (bits: row 1, insert 4,
  /// delete 8, update 16, truncate 32; AFTER sets none) and tgoldtable.
  int type;
  std::string old_table;
};

/// One object of the schema: whether the catalog holds it as this version
/// makes it, and the SQL that makes it so.
struct schema_part {
  std::string what; // for the log: "index solver_state_expiry"
  std::string present; // an SQL boolean
  std::string create;
  /// The store's statements cannot be prepared without it.
  bool required = false;
  /// A part of the max_items count: the count row follows its creation.
  bool counting = false;
};

std::string quoted(const std::string& name) {
  return "'" + name + "'"; // table names are [a-z_][a-z0-9_]*
}

std::vector<schema_part> parts_of(const table_trigger& tr,
                                  const std::string& t, bool counting) {
  auto fn = quoted(tr.name + "()");
  return {
    {"function " + tr.name + "()",
     "EXISTS (SELECT 1 FROM pg_proc WHERE oid = to_regprocedure(" + fn
       + ") AND prosrc = $f$" + tr.source + "$f$)",
     "CREATE OR REPLACE FUNCTION " + tr.name
       + "() RETURNS trigger LANGUAGE plpgsql AS $f$" + tr.source + "$f$;",
     false, counting},
    {"trigger " + tr.name,
     "EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass("
       + quoted(t) + ") AND tgname = " + quoted(tr.name)
       + " AND tgfoid = to_regprocedure(" + fn + ") AND tgtype = "
       + std::to_string(tr.type) + " AND coalesce(tgoldtable::text, '') = "
       + quoted(tr.old_table) + ")",
     "CREATE OR REPLACE TRIGGER " + tr.name + " " + tr.fires
       + " EXECUTE FUNCTION " + tr.name + "();",
     false, counting},
  };
}

/// The change trigger: every row a statement inserts, updates or deletes
/// sends a NOTIFY on the channel named after the table, from inside the
/// writing transaction, so PostgreSQL delivers it at COMMIT, in commit
/// order, to every node that LISTENs (feed.hpp), and never for a write that
/// rolled back. Payloads (NOTIFY carries at most 8000 bytes of text):
///   "p<version>:<expires_at>:<hex key>:<base64 value>", or ":?" instead
///     of the value when it does not fit (the reader fetches it);
///   "d<old version>:<hex key>" for a delete, "x<old version>:<hex key>"
///     when the row removed (or replaced) had expired: the sweep's deletes
///     are the expiry events of every node.
/// The old version keeps two deletes of one key in one transaction apart:
/// PostgreSQL delivers identical payloads of a transaction once.
table_trigger change_trigger(const std::string& t) {
  return {
    t + "_changed",
    " DECLARE head text; now_ms bigint; BEGIN "
    "now_ms := (extract(epoch from clock_timestamp()) * 1000)::bigint; "
    "IF TG_OP <> 'INSERT' AND OLD.expires_at <> 0 "
    "AND OLD.expires_at <= now_ms THEN "
    "PERFORM pg_notify('" + t + "', 'x' || OLD.version || ':' "
    "|| encode(OLD.key, 'hex')); "
    "ELSIF TG_OP = 'DELETE' THEN "
    "PERFORM pg_notify('" + t + "', 'd' || OLD.version || ':' "
    "|| encode(OLD.key, 'hex')); END IF; "
    "IF TG_OP = 'DELETE' THEN RETURN NULL; END IF; "
    "head := 'p' || NEW.version || ':' || NEW.expires_at || ':' "
    "|| encode(NEW.key, 'hex') || ':'; "
    // base64 text is 4/3 of the bytes plus a newline per 76 chars.
    "IF octet_length(NEW.value) <= (7800 - length(head)) * 57 / 78 THEN "
    "PERFORM pg_notify('" + t + "', head || encode(NEW.value, 'base64')); "
    "ELSE PERFORM pg_notify('" + t + "', head || '?'); END IF; "
    "RETURN NULL; END ",
    "AFTER INSERT OR UPDATE OR DELETE ON " + t + " FOR EACH ROW",
    1 | 4 | 8 | 16,
    "",
  };
}

/// The key count for max_items, installed when a store is configured with
/// a limit: one row holding the number of rows in the table, kept exact by
/// triggers. A row-level AFTER INSERT trigger fires only for rows really
/// inserted (not for ON CONFLICT's update path); it bumps the count and
/// refuses the insert when this session's limit is exceeded. Updating the
/// one row locks it until commit, so concurrent inserts of new keys (every
/// shard, every client) are counted one after the other and never overshoot.
/// Expired rows count until the sweep deletes them, as in the memory and
/// file backends. Triggers are created once per table and stay; their cost
/// (one row update per new key) then applies to every client of the table.
std::vector<table_trigger> counting_triggers(const std::string& t) {
  auto items = t + "_items";
  return {
    {t + "_admit",
     " DECLARE total bigint; cap bigint; BEGIN "
     "UPDATE " + items + " SET n = n + 1 RETURNING n INTO total; "
     "cap := coalesce(nullif(current_setting('solver_state.max_items',"
     " true), ''), '0')::bigint; "
     "IF cap > 0 AND total > cap THEN RAISE EXCEPTION "
     "'store holds max_items=% keys', cap USING ERRCODE = '"
       + std::string{postgres_capacity_state} + "'; END IF; "
     "RETURN NULL; END ",
     "AFTER INSERT ON " + t + " FOR EACH ROW", 1 | 4, ""},
    {t + "_release",
     " DECLARE k bigint; BEGIN "
     "SELECT count(*) INTO k FROM gone; "
     "IF k > 0 THEN UPDATE " + items + " SET n = n - k; END IF; "
     "RETURN NULL; END ",
     "AFTER DELETE ON " + t
       + " REFERENCING OLD TABLE AS gone FOR EACH STATEMENT",
     8, "gone"},
    {t + "_reset", " BEGIN UPDATE " + items + " SET n = 0; RETURN NULL; END ",
     "AFTER TRUNCATE ON " + t + " FOR EACH STATEMENT", 32, ""},
  };
}

/// Every part of the schema, in the order they are created.
std::vector<schema_part> schema_parts(const std::string& t, bool counting) {
  auto seed = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  std::vector<schema_part> parts{
    {"table " + t, "to_regclass(" + quoted(t) + ") IS NOT NULL",
     "CREATE TABLE IF NOT EXISTS " + t
       + " (key bytea PRIMARY KEY, value bytea NOT NULL, "
         "version bigint NOT NULL, expires_at bigint NOT NULL DEFAULT 0);",
     true},
    {"index " + t + "_expiry",
     "EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass("
       + quoted(t + "_expiry") + ") AND indrelid = to_regclass(" + quoted(t)
       + "))",
     "CREATE INDEX IF NOT EXISTS " + t + "_expiry ON " + t
       + " (expires_at) WHERE expires_at <> 0;"},
    // The sequence starts at the clock (in microseconds), like the memory
    // backend's versions, so a recreated table does not hand out old ETags
    // again.
    {"sequence " + t + "_version",
     "to_regclass(" + quoted(t + "_version") + ") IS NOT NULL",
     "CREATE SEQUENCE IF NOT EXISTS " + t + "_version START WITH "
       + std::to_string(seed) + ";",
     true},
  };
  for (auto& p : parts_of(change_trigger(t), t, false))
    parts.push_back(std::move(p));
  if (!counting)
    return parts;
  auto items = t + "_items";
  parts.push_back({"table " + items,
                   "to_regclass(" + quoted(items) + ") IS NOT NULL",
                   "CREATE TABLE IF NOT EXISTS " + items
                     + " (one boolean PRIMARY KEY DEFAULT true CHECK (one),"
                       " n bigint NOT NULL);",
                   false, true});
  for (auto& tr : counting_triggers(t))
    for (auto& p : parts_of(tr, t, true))
      parts.push_back(std::move(p));
  return parts;
}

/// The count row, after the counting triggers (CREATE TRIGGER locks out
/// writers until COMMIT), so no insert falls between the count and the
/// trigger. A row already there stays, and then the table is not counted
/// again (the subquery runs only for a row to insert): a new version of a
/// counting function does not cost a scan of the table.
std::string count_row(const std::string& t) {
  auto items = t + "_items";
  return "INSERT INTO " + items + " SELECT true, (SELECT count(*) FROM " + t
         + ") WHERE NOT EXISTS (SELECT 1 FROM " + items
         + ") ON CONFLICT DO NOTHING;";
}

/// Says that this start waits for the count of the table (the planner's
/// estimate of its rows, which needs no scan).
void log_counting(postgres_connection& conn, const std::string& t) {
  auto rows = conn.exec("SELECT reltuples::bigint FROM pg_class WHERE oid = "
                        "to_regclass(" + quoted(t) + ")");
  if (!rows || rows->size() != 1)
    return; // a new table: nothing to count
  auto estimate = std::string{rows->bytes(0, 0)};
  spdlog::info("postgresql: counting {} keys of table {} for max_items "
               "(once per table; the connection, and every writer of the "
               "table, waits for it, at most {} s)",
               estimate.rfind('-', 0) == 0 ? "an unknown number of"
                                           : "about " + estimate,
               t,
               std::chrono::duration_cast<std::chrono::seconds>(
                 schema_ddl_wait)
                 .count());
}

/// The parts the catalog lacks, or holds as another version made them: one
/// query, which takes no lock on the table.
caf::expected<std::vector<const schema_part*>>
missing_parts(postgres_connection& conn,
              const std::vector<schema_part>& parts) {
  std::string sql = "SELECT ";
  for (size_t i = 0; i < parts.size(); ++i)
    sql += (i == 0 ? "" : ", ") + parts[i].present;
  auto rows = conn.exec(sql);
  if (!rows)
    return std::move(rows.error());
  if (rows->size() != 1)
    return make_state_error(state_errc::backend_error,
                            "postgresql: the schema check answered "
                              + std::to_string(rows->size()) + " rows");
  std::vector<const schema_part*> missing;
  for (size_t i = 0; i < parts.size(); ++i)
    if (rows->bytes(0, static_cast<int>(i)) != "t") // text format: t or f
      missing.push_back(&parts[i]);
  return missing;
}

std::string names_of(const std::vector<const schema_part*>& parts) {
  std::string out;
  for (auto* p : parts)
    out += (out.empty() ? "" : ", ") + p->what;
  return out;
}

} // namespace

caf::error complete_postgres_schema(postgres_connection& conn) {
  const auto& t = conn.options().table;
  auto parts = schema_parts(t, conn.options().max_items != 0);
  auto missing = missing_parts(conn, parts);
  if (!missing)
    return std::move(missing.error());
  if (missing->empty())
    return {};
  // Shards connect at the same time: the advisory lock keeps their DDL
  // from racing on the catalog (it waits under the same lock_timeout).
  // lock_timeout bounds every wait for a lock; the statements themselves
  // may outlast the session's statement_timeout (counting a large table,
  // building the expiry index), so they get schema_ddl_wait, which still
  // ends them on the server if our side gives up: it would otherwise go
  // on holding its table locks, and every writer of the table with them.
  auto ddl = "BEGIN; SET LOCAL lock_timeout = "
             + std::to_string(schema_lock_wait.count())
             + "; SET LOCAL statement_timeout = "
             + std::to_string(schema_ddl_wait.count())
             + "; SELECT pg_advisory_xact_lock(7683120);";
  bool counting = false;
  bool counts_anew = false;
  for (auto* p : *missing) {
    ddl += p->create;
    counting = counting || p->counting;
    counts_anew = counts_anew || p->what == "table " + t + "_items";
  }
  if (counting)
    ddl += count_row(t);
  ddl += "COMMIT;";
  spdlog::info("postgresql: creating or updating {}", names_of(*missing));
  if (counts_anew)
    log_counting(conn, t);
  auto done = conn.exec(ddl, schema_ddl_wait + conn.options().command_timeout);
  if (done)
    return {};
  auto err = std::move(done.error());
  // A statement of the text failed: the session is inside the failed
  // transaction until it says ROLLBACK.
  if (conn.connected())
    if (auto rolled = conn.exec("ROLLBACK"); !rolled)
      return std::move(rolled.error());
  // Only a lock another transaction holds (lock_timeout) is worth serving
  // without the parts; a statement that ran out of time or failed is not.
  if (!failed_with_state(err, "55P03"))
    return err;
  auto still = missing_parts(conn, parts);
  if (!still)
    return std::move(still.error());
  if (still->empty())
    return {}; // another session made them meanwhile
  for (auto* p : *still)
    if (p->required)
      return err;
  // Serving without the count would ignore max_items, silently.
  for (auto* p : *still)
    if (p->counting)
      return make_state_error(
        state_errc::backend_unavailable,
        "postgresql: cannot add the max_items count (" + names_of(*still)
          + "): another transaction holds a lock on table " + t
          + "; not serving without the limit, the next connection tries "
            "again: "
          + message_of(err));
  spdlog::warn("postgresql: {} not created or updated ({}): another "
               "transaction holds a lock on table {}; serving with the "
               "schema as it is, the next connection tries again",
               names_of(*still), message_of(err), t);
  return {};
}

} // namespace solver_state
