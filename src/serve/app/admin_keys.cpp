// The admin routes of ServeApp: listing, creating and revoking API keys over HTTP. Only admin
// keys reach them (403 for user keys); a created key's secret is in that one response only,
// the store keeps its SHA-256.
#include "serve/app/serve_app.h"
#include "serve/openai/responses.h"

namespace nova::serve::app {

using openai::InvalidRequest;
using openai::Json;

namespace {

void require_key_store(const AccessGate& gate) {
  if (!gate.auth_enabled())
    throw InvalidRequest("", "This server runs without --api-keys (open mode): there are no keys to manage.",
                         "auth_disabled");
}

}  // namespace

void ServeApp::handle_admin_keys(const http::HttpRequest& req, http::ResponseWriterPtr w) {
  auto record = new_record("/v1/admin/keys", req);
  guarded(*w, *record, [&] {
    if (!gate_->authenticate(req, *w, *record, auth::Role::kAdmin)) return;
    require_key_store(*gate_);
    if (req.method == "GET") {
      Json data = Json::array();
      for (const auto& k : gate_->authenticator().list_keys()) data.push_back(auth::record_to_json(k, false));
      record->finish(200);
      w->send_json(200, openai::dump_json(Json{{"object", "list"}, {"data", std::move(data)}}));
      return;
    }
    // POST {"name", "role": "user" | "admin", "requests_per_minute", "tokens_per_minute"}
    const Json body = openai::parse_json_body(req.body, options_.server.limits.max_body_bytes);
    std::string name = openai::read_string(body, "name").value_or("");
    if (name.size() > 256) throw InvalidRequest("name", "'name' may have at most 256 bytes.");
    const std::string role_name = openai::read_string(body, "role").value_or("user");
    if (role_name != "user" && role_name != "admin") throw InvalidRequest("role", "'role' must be 'user' or 'admin'.");
    auth::KeyLimits limits;
    limits.requests_per_minute = openai::read_int(body, "requests_per_minute", 1, int64_t{1} << 40);
    limits.tokens_per_minute = openai::read_int(body, "tokens_per_minute", 1, int64_t{1} << 50);
    const auth::CreatedKey created =
        gate_->authenticator().create_key(std::move(name), auth::parse_role(role_name), limits);
    Json out = auth::record_to_json(created.record, false);
    out["key"] = created.key;  // shown this once; only its hash is stored
    record->finish(201);
    w->send_json(201, openai::dump_json(out));
  });
}

void ServeApp::handle_admin_revoke(const http::HttpRequest& req, http::ResponseWriterPtr w) {
  auto record = new_record("/v1/admin/keys/{id}", req);
  guarded(*w, *record, [&] {
    if (!gate_->authenticate(req, *w, *record, auth::Role::kAdmin)) return;
    require_key_store(*gate_);
    const std::string id = req.path.substr(std::string("/v1/admin/keys/").size());
    if (!gate_->authenticator().revoke_key(id)) {
      answer_error(*w, *record, 404, "No API key has the id '" + id + "'.", "key_not_found", "id");
      return;
    }
    record->finish(200);
    w->send_json(200, openai::dump_json(Json{{"id", id}, {"object", "api_key"}, {"revoked", true}}));
  });
}

}  // namespace nova::serve::app
