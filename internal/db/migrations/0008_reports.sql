-- Indexes for the staff reports (referral/report*.go). A report reads the
-- referrals made in a date range, then their services, outcomes and
-- follow-ups; each index below holds every column its query reads, so the
-- range scans never visit the tables themselves (measured in
-- docs/benchmarks.md, "Referral reports": with 100,000 referrals the
-- table look-ups were most of the page's time).

-- The referrals of a date range, with what the reports count by.
CREATE INDEX referral_report ON referral(created_at, id, client_id, channel, need_category, zip);

-- Follow-up eligibility: a phone and consent.
CREATE INDEX referral_client_report ON referral_client(id, consent_given, phone);

-- The services of a referral, in order, with their snapshot.
CREATE INDEX referral_service_report ON referral_service(referral_id, position, service_id, organization, name);

-- The outcomes of a referral (overall and per service).
CREATE INDEX referral_outcome_report ON referral_outcome(referral_id, service_id, reached, got_help, reason, still_needs_help, recorded_at);

-- The follow-ups of a referral, by kind, with whether they went out and
-- were answered.
CREATE INDEX followup_report ON followup(referral_id, kind, state, sent_at, replied_at);
