// The SigV4 signer against AWS's published example ("GET iam ListUsers" in
// the Signature Version 4 documentation). dynalite ignores signatures, so this
// is what proves the signer, not the conformance run.

#include <catch2/catch.hpp>

#include "backends/dynamodb/sigv4.hpp"

using namespace solver_state;

namespace {

aws::request_to_sign list_users() {
  aws::request_to_sign req;
  req.method = "GET";
  req.path = "/";
  req.canonical_query = "Action=ListUsers&Version=2010-05-08";
  req.headers = {
    {"Host", "iam.amazonaws.com"},
    {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
    {"X-Amz-Date", "20150830T123600Z"},
  };
  req.payload = "";
  return req;
}

const aws::credentials example_creds{
  "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

} // namespace

TEST_CASE("sha256_hex of the empty payload is the well-known digest") {
  CHECK(aws::sha256_hex("")
        == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("HMAC-SHA256 matches RFC 4231 test case 2") {
  auto mac = aws::hmac_sha256("Jefe", "what do ya want for nothing?");
  REQUIRE(mac.size() == 32);
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : mac)
    hex += std::string{digits[c >> 4], digits[c & 0xF]};
  CHECK(hex
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("the canonical request of the AWS example") {
  std::string signed_headers;
  auto canonical = aws::canonical_request(list_users(), signed_headers);
  CHECK(signed_headers == "content-type;host;x-amz-date");
  CHECK(canonical
        == "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
           "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
           "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
           "content-type;host;x-amz-date\n"
           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(aws::sha256_hex(canonical)
        == "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
}

TEST_CASE("the signature of the AWS example") {
  auto header = aws::authorization(example_creds, "us-east-1", "iam",
                                   "20150830T123600Z", list_users());
  CHECK(header
        == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/"
           "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
           "Signature="
           "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

TEST_CASE("header values are trimmed and inner runs of spaces collapsed") {
  auto req = list_users();
  req.headers[1].second
    = "  application/x-www-form-urlencoded;   charset=utf-8  ";
  auto header = aws::authorization(example_creds, "us-east-1", "iam",
                                   "20150830T123600Z", req);
  CHECK(header.find("5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b592"
                    "4a6f2b5d7")
        != std::string::npos);
}

TEST_CASE("a different secret, date or payload changes the signature") {
  auto base = aws::authorization(example_creds, "us-east-1", "iam",
                                 "20150830T123600Z", list_users());
  auto other = example_creds;
  other.secret_access_key += "x";
  CHECK(aws::authorization(other, "us-east-1", "iam", "20150830T123600Z",
                           list_users())
        != base);
  auto req = list_users();
  req.payload = "{}";
  CHECK(aws::authorization(example_creds, "us-east-1", "iam",
                           "20150830T123600Z", req)
        != base);
}

TEST_CASE("amz_date formats UTC") {
  CHECK(aws::amz_date(std::chrono::system_clock::from_time_t(1440938160))
        == "20150830T123600Z");
}
