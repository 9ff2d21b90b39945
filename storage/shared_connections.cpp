#include "storage/shared_connections.hpp"

#include <stdexcept>

namespace jitbot::storage {

SharedConnections::SharedConnections(std::string path, std::size_t connections, std::string audit_key)
    : path_(std::move(path)), audit_key_(std::move(audit_key)), capacity_(connections == 0 ? 1 : connections) {
  // Open one now, so a database that cannot be opened is reported at start-up.
  idle_.push_back(std::make_unique<SqliteStore>(path_, audit_key_));
  opened_ = 1;
}

SharedConnections::~SharedConnections() = default;

SharedConnections::Borrowed::Borrowed(SharedConnections& pool) : pool_(pool) {
  std::unique_lock lock(pool_.mutex_);
  pool_.returned_.wait(lock, [&] { return !pool_.idle_.empty() || pool_.opened_ < pool_.capacity_; });
  if (!pool_.idle_.empty()) {
    store_ = std::move(pool_.idle_.back());
    pool_.idle_.pop_back();
    return;
  }
  ++pool_.opened_;  // reserved before the slow open, which runs unlocked
  lock.unlock();
  try {
    store_ = std::make_unique<SqliteStore>(pool_.path_, pool_.audit_key_);
  } catch (...) {
    lock.lock();
    --pool_.opened_;
    pool_.returned_.notify_one();
    throw;
  }
}

SharedConnections::Borrowed::~Borrowed() {
  {
    std::lock_guard lock(pool_.mutex_);
    pool_.idle_.push_back(std::move(store_));
  }
  pool_.returned_.notify_one();
}

bool SharedConnections::commit(const workflows::Change& change) {
  if (!Borrowed(*this)->commit(change)) return false;
  announce_work(change);  // the connection is back in the pool first
  return true;
}

std::optional<workflows::Request> SharedConnections::find(const std::string& id) { return Borrowed(*this)->find(id); }

std::vector<workflows::Request> SharedConnections::list(const workflows::RequestFilter& filter) {
  return Borrowed(*this)->list(filter);
}

std::vector<workflows::Request> SharedConnections::due_requests(workflows::Instant now) {
  return Borrowed(*this)->due_requests(now);
}

std::optional<workflows::Instant> SharedConnections::next_due_at() { return Borrowed(*this)->next_due_at(); }

std::vector<workflows::AuditEntry> SharedConnections::audit_trail(const std::string& request_id) {
  return Borrowed(*this)->audit_trail(request_id);
}

std::optional<workflows::Job> SharedConnections::claim_job(workflows::Instant now, workflows::Instant lease_until,
                                                           const workflows::JobFilter& filter) {
  return Borrowed(*this)->claim_job(now, lease_until, filter);
}

void SharedConnections::record_refusal(const workflows::AuditEntry& entry) { Borrowed(*this)->record_refusal(entry); }

void SharedConnections::settle_job(const workflows::JobSettlement& settlement,
                                   const std::optional<workflows::AuditEntry>& audit) {
  Borrowed(*this)->settle_job(settlement, audit);
}

std::optional<workflows::Instant> SharedConnections::next_job_at() { return Borrowed(*this)->next_job_at(); }

std::vector<workflows::Job> SharedConnections::jobs_of(const std::string& request_id) {
  return Borrowed(*this)->jobs_of(request_id);
}

std::optional<workflows::Notice> SharedConnections::claim_notice(workflows::Instant now,
                                                                 workflows::Instant lease_until) {
  return Borrowed(*this)->claim_notice(now, lease_until);
}

void SharedConnections::mark_delivered(std::int64_t notice_id) { Borrowed(*this)->mark_delivered(notice_id); }

void SharedConnections::mark_posted(std::int64_t notice_id, const workflows::PostedMessage& posted) {
  Borrowed(*this)->mark_posted(notice_id, posted);
}

bool SharedConnections::newer_card_waits(const workflows::Notice& notice) {
  return Borrowed(*this)->newer_card_waits(notice);
}

void SharedConnections::mark_failed_delivery(const workflows::Notice& notice, const std::string& error,
                                             const std::optional<workflows::Instant>& retry_at,
                                             const std::vector<workflows::Notice>& announcements) {
  Borrowed(*this)->mark_failed_delivery(notice, error, retry_at, announcements);
}

std::optional<workflows::Instant> SharedConnections::next_notice_at() { return Borrowed(*this)->next_notice_at(); }

std::vector<workflows::Notice> SharedConnections::list_notices(const workflows::OutboxFilter& filter) {
  return Borrowed(*this)->list_notices(filter);
}

bool SharedConnections::retry_notice(std::int64_t notice_id, workflows::Instant now) {
  return Borrowed(*this)->retry_notice(notice_id, now);
}

std::int64_t SharedConnections::put_input(const workflows::Input& input) { return Borrowed(*this)->put_input(input); }

std::optional<workflows::Input> SharedConnections::claim_input(workflows::Instant now, workflows::Instant lease_until) {
  return Borrowed(*this)->claim_input(now, lease_until);
}

void SharedConnections::finish_input(std::int64_t input_id) { Borrowed(*this)->finish_input(input_id); }

int SharedConnections::count_break_glass(const std::string& requester, workflows::Instant since) {
  return Borrowed(*this)->count_break_glass(requester, since);
}

std::optional<std::string> SharedConnections::alert_location(const std::string& request_id, const std::string& target) {
  return Borrowed(*this)->alert_location(request_id, target);
}

void SharedConnections::save_alert_location(const std::string& request_id, const std::string& target,
                                            const std::string& location) {
  Borrowed(*this)->save_alert_location(request_id, target, location);
}

std::optional<std::string> SharedConnections::card_location(const std::string& request_id) {
  return Borrowed(*this)->card_location(request_id);
}

void SharedConnections::save_card_location(const std::string& request_id, const std::string& location) {
  Borrowed(*this)->save_card_location(request_id, location);
}

StoreFigures SharedConnections::figures(workflows::Instant now) { return Borrowed(*this)->figures(now); }

AuditVerification SharedConnections::verify_audit(const std::optional<AuditAnchor>& anchor) {
  return Borrowed(*this)->verify_audit(anchor);
}

void SharedConnections::for_each_audit(const std::optional<workflows::Instant>& since,
                                       const std::function<void(const AuditRecord&)>& visit) {
  Borrowed(*this)->for_each_audit(since, visit);
}

std::optional<AuditAnchor> SharedConnections::audit_head() { return Borrowed(*this)->audit_head(); }

void SharedConnections::renew_leases(LeaseKind kind, const std::vector<std::int64_t>& ids, workflows::Instant until) {
  Borrowed(*this)->renew_leases(kind, ids, until);
}

int SharedConnections::schema_version() { return Borrowed(*this)->schema_version(); }

void SharedConnections::release_leases() { Borrowed(*this)->release_leases(); }

}  // namespace jitbot::storage
