// Key validation and the typed keys of the naming convention.

#include "messages/keys.hpp"

namespace solver_state {

namespace {

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7F;
}

std::string join(std::string_view a, std::string_view b, std::string_view c) {
  std::string out;
  out.reserve(a.size() + b.size() + c.size() + 2);
  out.append(a).append(":").append(b);
  if (!c.empty())
    out.append(":").append(c);
  return out;
}

} // namespace

std::string key_problem(std::string_view key) {
  if (key.empty())
    return "key is empty";
  if (key.size() > max_key_bytes)
    return "key is " + std::to_string(key.size()) + " bytes, the limit is "
           + std::to_string(max_key_bytes);
  for (size_t i = 0; i < key.size(); ++i)
    if (is_control(static_cast<unsigned char>(key[i])))
      return "key contains control byte 0x"
             + std::string{"0123456789ABCDEF"[(key[i] >> 4) & 0xF]}
             + std::string{"0123456789ABCDEF"[key[i] & 0xF]} + " at offset "
             + std::to_string(i);
  return {};
}

std::string segment_problem(std::string_view what, std::string_view segment) {
  if (segment.empty())
    return std::string{what} + " is empty";
  if (segment.find(':') != std::string_view::npos)
    return std::string{what} + " contains ':'";
  for (unsigned char c : segment)
    if (is_control(c))
      return std::string{what} + " contains a control byte";
  return {};
}

std::string order_key(std::string_view order_type, std::string_view order_id) {
  return join("order", order_type, order_id);
}

std::string orders_prefix(std::string_view order_type) {
  return join("order", order_type, {}) + ":";
}

std::string fill_key(std::string_view order_id, std::string_view tx_hash) {
  return join("fill", order_id, tx_hash);
}

std::string fills_prefix(std::string_view order_id) {
  return join("fill", order_id, {}) + ":";
}

std::string settlement_key(std::string_view order_id,
                           std::string_view claim_hash) {
  return join("settlement", order_id, claim_hash);
}

std::string settlements_prefix(std::string_view order_id) {
  return join("settlement", order_id, {}) + ":";
}

std::string state_key(std::string_view component, std::string_view key) {
  return join("state", component, key);
}

namespace {

std::string first_problem(std::string a, std::string b) {
  return a.empty() ? b : a;
}

} // namespace

std::string problem_of(const order_ref& x) {
  return first_problem(segment_problem("order_type", x.order_type),
                       segment_problem("order_id", x.order_id));
}

std::string problem_of(const fill_ref& x) {
  return first_problem(segment_problem("order_id", x.order_id),
                       segment_problem("tx_hash", x.tx_hash));
}

std::string problem_of(const settlement_ref& x) {
  return first_problem(segment_problem("order_id", x.order_id),
                       segment_problem("claim_hash", x.claim_hash));
}

std::string problem_of(const component_key& x) {
  // A component's key may itself contain ':' (it is the last segment).
  auto p = segment_problem("component", x.component);
  if (!p.empty())
    return p;
  if (x.key.empty())
    return "key is empty";
  return key_problem(state_key(x.component, x.key));
}

} // namespace solver_state
