#include "adapters/credentials/aws/aws_backend.hpp"

#include <thread>

namespace jitbot::adapters::aws {
namespace {

using workflows::BackendCall;
using workflows::BackendResult;

constexpr const char* sso_target = "SWBExternalService.";

std::string endpoint(const config::BackendConfig& config, const std::string& key, const std::string& service) {
  if (auto own = config.setting(key); !own.empty()) return own;
  if (auto shared = config.setting("endpoint_url"); !shared.empty()) return shared;
  return "https://" + service + "." + config.setting("region") + ".amazonaws.com";
}

/// IAM is global: one endpoint, signed for us-east-1.
AwsService iam_service(const config::BackendConfig& config) {
  std::string url = config.setting("iam_endpoint");
  if (url.empty()) url = config.setting("endpoint_url");
  if (url.empty()) url = "https://iam.amazonaws.com";
  return {url, "iam", "us-east-1"};
}

std::string signin_url(const config::BackendConfig& config) {
  if (auto own = config.setting("signin_url"); !own.empty()) return own;
  if (auto shared = config.setting("endpoint_url"); !shared.empty()) return cloud::join_url(shared, "federation");
  return "https://signin.aws.amazon.com/federation";
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

/// STS allows [\w+=,.@-]{2,64} in a session name.
std::string session_name(const std::string& request_id) {
  std::string name = "jitbot-";
  for (char c : request_id) {
    name += std::isalnum(static_cast<unsigned char>(c)) || std::string_view("+=,.@-_").find(c) != std::string_view::npos
                ? c
                : '-';
  }
  return name.substr(0, 64);
}

/// The inline policy on a console role that lists the sessions jitbot cut off.
constexpr const char* revoked_sessions_policy = "JitbotRevokedSessions";

/// "arn:aws:iam::123456789012:role/path/Name" -> "123456789012".
std::string arn_account(const std::string& arn) {
  std::size_t at = 0;
  for (int colon = 0; colon < 4 && at != std::string::npos; ++colon) at = arn.find(':', at + 1);
  if (at == std::string::npos) return {};
  return arn.substr(at + 1, arn.find(':', at + 1) - at - 1);
}

/// "arn:aws:iam::123456789012:role/path/Name" -> "Name".
std::string role_name(const std::string& arn) { return arn.substr(arn.rfind('/') + 1); }

/// Statement IDs allow only letters and digits: "Jitbot" + the request ID's + "Until" + the
/// Unix time after which the statement is moot (every session it denies has expired).
std::string revocation_sid(const std::string& request_id, long long until) {
  std::string sid = "Jitbot";
  for (char c : request_id) {
    if (std::isalnum(static_cast<unsigned char>(c))) sid += c;
  }
  return sid + "Until" + std::to_string(until);
}

/// The "Until" time of a statement jitbot wrote, or nullopt for anyone else's statement.
std::optional<long long> revocation_until(const nlohmann::json& statement) {
  std::string sid = statement.is_object() ? statement.value("Sid", std::string{}) : std::string{};
  auto until = sid.rfind("Until");
  if (sid.rfind("Jitbot", 0) != 0 || until == std::string::npos) return std::nullopt;
  std::string digits = sid.substr(until + 5);
  if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoll(digits);
}

long long unix_seconds(std::chrono::system_clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
}

}  // namespace

AwsBackend::AwsBackend(const config::BackendConfig& config)
    : config_(config),
      sso_{endpoint(config, "sso_endpoint", "sso"), "sso", config.setting("region")},
      identity_store_{endpoint(config, "identitystore_endpoint", "identitystore"), "identitystore",
                      config.setting("region")},
      sts_{endpoint(config, "sts_endpoint", "sts"), "sts", config.setting("region")},
      iam_(iam_service(config)),
      signin_url_(signin_url(config)),
      api_(config.name, config.setting("profile"), http::TlsTrust{config.ca_file.string(), {}}) {}

BackendResult AwsBackend::grant(const BackendCall& call) {
  return cloud::guarded("aws", config_.name, call, [&] { return do_grant(call); });
}

BackendResult AwsBackend::revoke(const BackendCall& call) {
  return cloud::guarded("aws", config_.name, call, [&] { return do_revoke(call); });
}

BackendResult AwsBackend::extend(const BackendCall& call) {
  return cloud::guarded("aws", config_.name, call, [&] {
    // An account assignment has no end of its own in Identity Center: jitbot's revoke is the end,
    // so moving jitbot's expiry is the whole extension. Console sessions already open keep their
    // own STS limit.
    BackendResult result;
    result.ok = true;
    result.message = "The Identity Center assignment stays until jitbot revokes it at " +
                     workflows::format_rfc3339(call.expires_at) + ".";
    return result;
  });
}

const config::BackendRoleConfig& AwsBackend::role_for(const BackendCall& call) const {
  auto found = config_.roles.find(call.role);
  if (found == config_.roles.end()) {
    throw cloud::CloudError("backend " + config_.name + " has no [backends.roles.\"" + call.role +
                                "\"] permission_set_arn; add it to the config",
                            false);
  }
  return found->second;
}

std::string AwsBackend::principal_id(const BackendCall& call, cloud::Attempts& attempts) {
  if (auto mapped = config_.principals.find(call.requester.user_id); mapped != config_.principals.end()) {
    return mapped->second;
  }
  if (auto mapped = config_.principals.find(call.requester.email); mapped != config_.principals.end()) {
    return mapped->second;
  }
  if (call.requester.email.empty()) {
    throw cloud::CloudError("the requester " + call.requester.user_id +
                                " has no email address, so jitbot cannot find them in IAM Identity Center; map them "
                                "in [backends.principals]",
                            false);
  }
  nlohmann::json filter{{"AttributePath", "UserName"}, {"AttributeValue", call.requester.email}};
  nlohmann::json body{{"IdentityStoreId", config_.setting("identity_store_id")}, {"Filters", {filter}}};
  auto reply = api_.json_call(identity_store_, "AWSIdentityStore.ListUsers", body, attempts);
  if (!reply.contains("Users") || !reply["Users"].is_array() || reply["Users"].empty()) {
    throw cloud::CloudError("IAM Identity Center has no user named " + call.requester.email + " in identity store " +
                                config_.setting("identity_store_id") +
                                "; create them there or map them in [backends.principals]",
                            false);
  }
  return reply["Users"][0].value("UserId", std::string{});
}

nlohmann::json AwsBackend::assignment(const BackendCall& call, const std::string& principal) const {
  return {
      {"InstanceArn", config_.setting("instance_arn")},        {"TargetId", call.scope},  {"TargetType", "AWS_ACCOUNT"},
      {"PermissionSetArn", role_for(call).permission_set_arn}, {"PrincipalType", "USER"}, {"PrincipalId", principal}};
}

nlohmann::json AwsBackend::wait_until_done(const std::string& describe, const std::string& id_field,
                                           const std::string& status_field, nlohmann::json status,
                                           cloud::Attempts& attempts) {
  // Most assignments finish within a second or two: ask soon, then back off to poll_interval.
  cloud::Millis wait{250};
  while (status.value("Status", std::string{}) == "IN_PROGRESS") {
    if (attempts.time_for_one_call() <= wait) {
      throw cloud::CloudError("AWS was still working on it when the backend's timeout ran out; jitbot will try again",
                              false);
    }
    std::this_thread::sleep_for(wait);
    wait = std::min<cloud::Millis>(wait * 2, config_.poll_interval);
    nlohmann::json body{{"InstanceArn", config_.setting("instance_arn")}, {id_field, status.value("RequestId", "")}};
    auto reply = api_.json_call(sso_, sso_target + describe, body, attempts);
    status = reply.value(status_field, nlohmann::json::object());
  }
  return status;
}

BackendResult AwsBackend::do_grant(const BackendCall& call) {
  const auto& role = role_for(call);
  cloud::Attempts attempts(config_.timeout);
  std::string principal = principal_id(call, attempts);
  // Creating an assignment that exists already succeeds, so a repeated grant (after a crash
  // between the call and its commit) does not fail or grant twice.
  auto reply =
      api_.json_call(sso_, std::string(sso_target) + "CreateAccountAssignment", assignment(call, principal), attempts);
  auto status = wait_until_done("DescribeAccountAssignmentCreationStatus", "AccountAssignmentCreationRequestId",
                                "AccountAssignmentCreationStatus",
                                reply.value("AccountAssignmentCreationStatus", nlohmann::json::object()), attempts);
  if (status.value("Status", std::string{}) != "SUCCEEDED") {
    throw cloud::CloudError("IAM Identity Center could not create the assignment: " +
                                status.value("FailureReason", status.value("Status", std::string{"no status"})),
                            false);
  }
  BackendResult result;
  result.ok = true;
  result.grant_id = principal;
  result.message = "IAM Identity Center assigned the permission set on account " + call.scope +
                   "; it appears in the AWS access portal within a minute.";
  if (role.console) {
    // The access itself is granted; a missing link must not turn that into a failure that
    // leaves the assignment behind unrecorded.
    try {
      std::string note;
      result.console_url = console_url(call, role, attempts, note);
      if (!note.empty()) result.message += " " + note;
    } catch (const std::exception& e) {
      result.message += " No console link this time: " + std::string(e.what());
    }
  }
  return result;
}

BackendResult AwsBackend::do_revoke(const BackendCall& call) {
  cloud::Attempts attempts(config_.timeout);
  BackendResult result;
  result.message = remove_assignment(call, attempts);
  const auto& role = role_for(call);
  // A console session lasts at most until the request's expiry, so only an early revoke leaves
  // one open. The cut-off comes after the assignment is gone, and a failure fails the revoke,
  // which is retried: both steps are safe to repeat.
  if (role.console && std::chrono::system_clock::now() < call.expires_at) {
    cut_off_console_sessions(call, role, attempts);
    result.message += " Console sessions opened from jitbot's link for this request are cut off too.";
  }
  result.ok = true;
  return result;
}

std::string AwsBackend::remove_assignment(const BackendCall& call, cloud::Attempts& attempts) {
  std::string principal = call.grant_id.empty() ? principal_id(call, attempts) : call.grant_id;
  nlohmann::json reply;
  try {
    // ConflictException (a grant or another revoke still running on this assignment) is retried.
    reply = api_.json_call(sso_, std::string(sso_target) + "DeleteAccountAssignment", assignment(call, principal),
                           attempts);
  } catch (const AwsError& e) {
    if (e.code() != "ResourceNotFoundException") throw;
    return "The assignment was already gone.";
  }
  auto status = wait_until_done("DescribeAccountAssignmentDeletionStatus", "AccountAssignmentDeletionRequestId",
                                "AccountAssignmentDeletionStatus",
                                reply.value("AccountAssignmentDeletionStatus", nlohmann::json::object()), attempts);
  if (status.value("Status", std::string{}) == "SUCCEEDED") {
    return "IAM Identity Center removed the assignment on account " + call.scope + ".";
  }
  // AWS also reports a missing assignment as a FAILED deletion ("404 … not found"): what counts
  // is whether the assignment is still there.
  if (!still_assigned(call, principal, attempts)) return "The assignment was already gone.";
  throw cloud::CloudError("IAM Identity Center could not delete the assignment: " +
                              status.value("FailureReason", status.value("Status", std::string{"no status"})),
                          true);
}

bool AwsBackend::still_assigned(const BackendCall& call, const std::string& principal, cloud::Attempts& attempts) {
  nlohmann::json body{{"InstanceArn", config_.setting("instance_arn")},
                      {"AccountId", call.scope},
                      {"PermissionSetArn", role_for(call).permission_set_arn}};
  for (;;) {
    auto page = api_.json_call(sso_, std::string(sso_target) + "ListAccountAssignments", body, attempts);
    for (const auto& assignment : page.value("AccountAssignments", nlohmann::json::array())) {
      if (assignment.value("PrincipalId", "") == principal && assignment.value("PrincipalType", "") == "USER") {
        return true;
      }
    }
    if (!page.contains("NextToken") || !page["NextToken"].is_string()) return false;
    body["NextToken"] = page["NextToken"];
  }
}

std::string AwsBackend::own_account(cloud::Attempts& attempts) {
  std::lock_guard lock(own_account_mutex_);
  if (own_account_.empty()) {
    auto xml = api_.query_call(sts_, "Action=GetCallerIdentity&Version=2011-06-15", attempts);
    own_account_ = xml_text(xml, "Account");
  }
  return own_account_;
}

std::optional<AwsCredentials> AwsBackend::iam_credentials(const BackendCall& call,
                                                          const config::BackendRoleConfig& role,
                                                          cloud::Attempts& attempts) {
  if (role.console_iam_role_arn.empty()) {
    std::string console_role = replace_all(role.console_role_arn, "{scope}", call.scope);
    std::string account = arn_account(console_role), own = own_account(attempts);
    if (account != own) {
      throw cloud::CloudError("the console role " + console_role + " is in account " + account +
                                  " and jitbot's AWS identity in account " + own +
                                  ", so jitbot could not cut its sessions off on an early revoke; set "
                                  "console_iam_role_arn for this role",
                              false);
    }
    return std::nullopt;
  }
  std::string form = "Action=AssumeRole&Version=2011-06-15&RoleArn=" +
                     uri_encode(replace_all(role.console_iam_role_arn, "{scope}", call.scope)) +
                     "&RoleSessionName=" + uri_encode(session_name(call.request_id + "-cutoff")) +
                     "&DurationSeconds=900";
  auto xml = api_.query_call(sts_, form, attempts);
  AwsCredentials assumed{xml_text(xml, "AccessKeyId"), xml_text(xml, "SecretAccessKey"), xml_text(xml, "SessionToken")};
  if (assumed.access_key_id.empty() || assumed.secret_access_key.empty()) {
    throw cloud::CloudError("AWS STS gave no credentials for console_iam_role_arn", false);
  }
  return assumed;
}

void AwsBackend::cut_off_console_sessions(const BackendCall& call, const config::BackendRoleConfig& role,
                                          cloud::Attempts& attempts) {
  // AWS's documented way to revoke a role's active sessions is an inline deny on
  // aws:TokenIssueTime. Narrowed to this request's session name, it leaves other people's
  // sessions of the same console role alone.
  auto credentials = iam_credentials(call, role, attempts);
  const AwsCredentials* as = credentials ? &*credentials : nullptr;
  std::string role_param =
      "&RoleName=" + uri_encode(role_name(replace_all(role.console_role_arn, "{scope}", call.scope))) +
      "&PolicyName=" + revoked_sessions_policy;
  nlohmann::json policy{{"Version", "2012-10-17"}, {"Statement", nlohmann::json::array()}};
  try {
    auto xml = api_.query_call(iam_, "Action=GetRolePolicy&Version=2010-05-08" + role_param, attempts, as);
    auto document = nlohmann::json::parse(percent_decode(xml_text(xml, "PolicyDocument")), nullptr, false);
    if (document.is_object() && document.contains("Statement") && document["Statement"].is_array()) policy = document;
  } catch (const AwsError& e) {
    if (e.code() != "NoSuchEntity") throw;
  }
  // Statements whose sessions have all expired are dropped, so the policy stays within IAM's size limit.
  auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  std::string sid = revocation_sid(call.request_id, unix_seconds(call.expires_at) + 60);
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& statement : policy["Statement"]) {
    auto until = revocation_until(statement);
    if (until && (*until <= unix_seconds(now) || statement.value("Sid", std::string{}) == sid)) continue;
    kept.push_back(statement);
  }
  nlohmann::json deny{{"Sid", sid}, {"Effect", "Deny"}, {"Action", "*"}, {"Resource", "*"}};
  deny["Condition"]["StringLike"]["aws:userid"] = "*:" + session_name(call.request_id);
  // Whole seconds, rounded up: a session issued in this very second is covered too, and none is
  // issued for a revoked request afterwards.
  deny["Condition"]["DateLessThan"]["aws:TokenIssueTime"] =
      workflows::format_rfc3339(std::chrono::ceil<std::chrono::seconds>(now) + std::chrono::seconds{1});
  kept.push_back(deny);
  policy["Statement"] = kept;
  api_.query_call(iam_,
                  "Action=PutRolePolicy&Version=2010-05-08" + role_param +
                      "&PolicyDocument=" + uri_encode(cloud::json_text(policy)),
                  attempts, as);
}

/// STS AssumeRole's bounds for DurationSeconds.
constexpr long long min_console_seconds = 900;
constexpr long long max_console_seconds = 43200;

std::string AwsBackend::console_url(const BackendCall& call, const config::BackendRoleConfig& role,
                                    cloud::Attempts& attempts, std::string& note) {
  auto assume_role = [&](long long seconds) {
    std::string form = "Action=AssumeRole&Version=2011-06-15&RoleArn=" +
                       uri_encode(replace_all(role.console_role_arn, "{scope}", call.scope)) +
                       "&RoleSessionName=" + uri_encode(session_name(call.request_id)) +
                       "&DurationSeconds=" + std::to_string(seconds);
    return api_.query_call(sts_, form, attempts);
  };
  // The console session must not outlive the access: it lasts only what the request has left,
  // and STS's shortest session is 15 minutes, so a request with less gets no link at all.
  auto left = std::chrono::duration_cast<std::chrono::seconds>(call.expires_at - std::chrono::system_clock::now());
  if (left.count() < min_console_seconds) {
    throw cloud::CloudError("the request has " + workflows::format_duration(std::max(left, std::chrono::seconds{0})) +
                                " left, less than the 15 minutes of AWS's shortest console session; use the AWS "
                                "access portal instead",
                            false);
  }
  // A link whose session jitbot could not cut off on an early revoke is not handed out at all.
  iam_credentials(call, role, attempts);
  auto seconds = std::min<long long>(left.count(), max_console_seconds);
  std::string xml;
  try {
    xml = assume_role(seconds);
  } catch (const AwsError& e) {
    // A role's MaxSessionDuration is one hour unless raised: settle for at most an hour.
    if (e.code() != "ValidationError" || seconds <= 3600) throw;
    xml = assume_role(3600);
    note =
        "The console session lasts 1h (the console role's MaxSessionDuration), less than the access; sign in "
        "again through the AWS access portal after that.";
  }
  // These keys only ever exist in this function: they buy the sign-in token and are dropped.
  nlohmann::json session{{"sessionId", xml_text(xml, "AccessKeyId")},
                         {"sessionKey", xml_text(xml, "SecretAccessKey")},
                         {"sessionToken", xml_text(xml, "SessionToken")}};
  auto reply = nlohmann::json::parse(
      api_.get(signin_url_ + "?Action=getSigninToken&SessionType=json&Session=" + uri_encode(cloud::json_text(session)),
               attempts),
      nullptr, false);
  if (!reply.is_object() || !reply.contains("SigninToken")) {
    throw cloud::CloudError("the AWS sign-in endpoint gave no SigninToken", false);
  }
  return signin_url_ + "?Action=login&Issuer=jitbot&Destination=" + uri_encode("https://console.aws.amazon.com/") +
         "&SigninToken=" + uri_encode(reply["SigninToken"].get<std::string>());
}

}  // namespace jitbot::adapters::aws
