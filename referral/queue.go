package referral

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// The staff follow-up queue: the follow-ups a person has to act on, and
// what staff do with them (claim, reschedule, close, note, refer again).
// The pages are in queue_page.go.

// Views of the queue (QueueFilter.State).
const (
	// QueueDue is the work list: call and callback tasks due today or
	// earlier, texts that may have gone out (unsure) or were refused
	// (failed), and texts held back (pending) for more than a day by the
	// sending window, the daily cap or an outage.
	QueueDue = "due"
	// QueueOverdue is the part of QueueDue that fell due before today.
	QueueOverdue = "overdue"
	// QueueUpcoming is the call and callback tasks due after today.
	QueueUpcoming = "upcoming"
	// QueueDone is the follow-ups closed as done, newest first.
	QueueDone = "done"
)

// QueueStates lists the views, in display order.
var QueueStates = []string{QueueDue, QueueOverdue, QueueUpcoming, QueueDone}

// AssigneeNone is QueueFilter.Assignee for follow-ups nobody has claimed.
const AssigneeNone = "unassigned"

// HeldAfter is how long past due a pending text must be before the queue
// shows it: the scheduler holds texts for the window and the daily cap, so
// a day late means something needs a person (an outage, a stuck cap).
const HeldAfter = 24 * time.Hour

// Audit trail actions of the queue.
const (
	// ActionNote is a staff note on a referral; Field is "notes" so that
	// deleting the client's details blanks it.
	ActionNote = "referral.note"
	// ActionReferredAgain is written on a referral when staff refer the same
	// person again; After names the new referral.
	ActionReferredAgain = "referral.referred_again"
)

// QueueFilter selects follow-ups from the queue. Empty fields do not filter.
type QueueFilter struct {
	// State is QueueDue (the default when ""), QueueOverdue, QueueUpcoming
	// or QueueDone.
	State string
	// Need is the referral's need category.
	Need string
	// Partner is the organization of one of the referred services, as
	// snapshotted in the referral (case-insensitive).
	Partner string
	// Channel is the referral's channel.
	Channel string
	// Assignee is the staff user id who claimed the follow-up, or
	// AssigneeNone.
	Assignee string
	// Kind is the follow-up's kind.
	Kind string
	// Me is the staff user asking; QueueCounts.Mine counts their due work.
	Me string
	// Now is the time the queue is read at (zero: the store's clock); days
	// ("due today", "overdue") are in the store's Zone.
	Now time.Time
	// Offset and Limit page the list; Limit 0 is DefaultLimit, more than
	// MaxLimit is MaxLimit.
	Offset, Limit int
}

// maxPartner bounds the partner filter: an organization name.
const maxPartner = 200

// Validate checks the filter; messages name the parameter.
func (f *QueueFilter) Validate() error {
	if f.State != "" && !slices.Contains(QueueStates, f.State) {
		return invalid("state", "must be one of %s, got %q", strings.Join(QueueStates, ", "), clip(f.State))
	}
	if f.Need != "" && !slices.Contains(needCategories(), f.Need) {
		return invalid("need", "must be one of %s, got %q", strings.Join(needCategories(), ", "), clip(f.Need))
	}
	if f.Channel != "" && !slices.Contains(Channels, f.Channel) {
		return invalid("channel", "must be one of %s, got %q", strings.Join(Channels, ", "), clip(f.Channel))
	}
	if f.Kind != "" && !slices.Contains(Kinds, f.Kind) {
		return invalid("kind", "must be one of %s, got %q", strings.Join(Kinds, ", "), clip(f.Kind))
	}
	if !validText(f.Partner) || strings.ContainsAny(f.Partner, "\n\r\t") || utf8.RuneCountInString(f.Partner) > maxPartner {
		return invalid("partner", "must be an organization's name, at most %d characters", maxPartner)
	}
	if f.Assignee != "" && f.Assignee != AssigneeNone {
		if err := validateActor("assignee", f.Assignee); err != nil {
			return err
		}
	}
	if f.Offset < 0 {
		return invalid("offset", "must not be negative")
	}
	if f.Limit < 0 {
		return invalid("limit", "must not be negative")
	}
	return nil
}

// Kinds lists every kind of follow-up, texts first.
var Kinds = []string{KindCheckin, KindReminder, KindFinal, KindCall, KindCallback}

// QueueItem is one follow-up in the queue, with its referral (client,
// services and outcomes loaded) and the person's latest reply to any of
// the referral's texts.
type QueueItem struct {
	Followup *Followup
	Referral *Referral
	// LastReply is the latest text the person sent about this referral,
	// "" when none.
	LastReply   string
	LastReplyAt *time.Time
}

// QueueCounts are the sizes of the views under the filter's need, partner,
// channel and kind (whoever the assignee): shown at the top of the queue.
type QueueCounts struct {
	Due, Overdue, Upcoming, Done int
	// Mine is the due work claimed by QueueFilter.Me.
	Mine int
	// Unassigned is the due work nobody has claimed.
	Unassigned int
}

// QueueResult is one page of the queue.
type QueueResult struct {
	Items []*QueueItem
	// Total is how many follow-ups the filter selects in all.
	Total  int
	Counts QueueCounts
	// Today is the start of the filter's day in the store's zone: what
	// "due today" and "overdue" were measured against.
	Today time.Time
}

func (s *Store) zone() *time.Location {
	if s.Zone != nil {
		return s.Zone
	}
	return time.UTC
}

// queueTimes are the bounds the views are cut at.
type queueTimes struct {
	now, today, tomorrow, held string
}

func (s *Store) queueTimes(now time.Time) (queueTimes, time.Time) {
	l := now.In(s.zone())
	today := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, s.zone())
	return queueTimes{now: formatTime(now), today: formatTime(today), tomorrow: formatTime(today.AddDate(0, 0, 1)),
		held: formatTime(now.Add(-HeldAfter))}, today
}

// openStates are the states of a follow-up a person may still act on; the
// queue's partial index (0009_queue.sql) holds exactly these, and every
// query of the open views must carry this condition word for word for
// SQLite to use it.
const openStates = `f.state IN ('pending','unsure','failed')`

// dueSQL is the due view on an open follow-up f (after openStates).
const dueSQL = `((f.kind IN ('call','callback') AND f.state = 'pending' AND f.due_at < :tomorrow)
	OR (f.kind IN ('checkin','reminder','final') AND (f.state <> 'pending' OR f.due_at < :held)))`

// viewSQL returns the condition of a view, and whether it reads the open
// index.
func viewSQL(state string) (string, bool) {
	switch state {
	case QueueOverdue:
		return dueSQL + ` AND f.due_at < :today`, true
	case QueueUpcoming:
		return `f.kind IN ('call','callback') AND f.state = 'pending' AND f.due_at >= :tomorrow`, true
	case QueueDone:
		return `f.state = 'done'`, false
	}
	return dueSQL, true
}

// named replaces :name placeholders by ? and returns the arguments in
// order (database/sql has no named arguments for every driver).
func named(q string, vals map[string]any) (string, []any) {
	var b strings.Builder
	var args []any
	for {
		i := strings.IndexByte(q, ':')
		if i < 0 {
			b.WriteString(q)
			return b.String(), args
		}
		j := i + 1
		for j < len(q) && (q[j] >= 'a' && q[j] <= 'z' || q[j] == '_') {
			j++
		}
		v, ok := vals[q[i+1:j]]
		if !ok || j == i+1 {
			b.WriteString(q[:j])
			q = q[j:]
			continue
		}
		b.WriteString(q[:i])
		b.WriteByte('?')
		args = append(args, v)
		q = q[j:]
	}
}

// filterSQL is the condition of the filter's need, partner, channel and
// kind on follow-up f; assignee is added when withAssignee. Need and
// channel are the referral's, copied onto the follow-up (0014), so no
// filter joins referral; the partner is a set of referrals.
func (f *QueueFilter) filterSQL(withAssignee bool) string {
	var where []string
	if f.Need != "" {
		where = append(where, `f.need_category = :need`)
	}
	if f.Channel != "" {
		where = append(where, `f.channel = :channel`)
	}
	if f.Partner != "" {
		where = append(where, `f.referral_id IN (SELECT s.referral_id FROM referral_service s WHERE s.organization = :partner COLLATE NOCASE)`)
	}
	if f.Kind != "" {
		where = append(where, `f.kind = :kind`)
	}
	if withAssignee {
		switch f.Assignee {
		case "":
		case AssigneeNone:
			where = append(where, `f.assignee = ''`)
		default:
			where = append(where, `f.assignee = :assignee`)
		}
	}
	if len(where) == 0 {
		return "1"
	}
	return strings.Join(where, " AND ")
}

// Queue returns one page of the queue, sorted by due time (the done view:
// most recently closed first), with the counts of every view.
func (s *Store) Queue(ctx context.Context, f QueueFilter) (*QueueResult, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if f.Now.IsZero() {
		f.Now = s.now()
	}
	if f.State == "" {
		f.State = QueueDue
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	qt, today := s.queueTimes(f.Now.UTC())
	vals := map[string]any{"now": qt.now, "today": qt.today, "tomorrow": qt.tomorrow, "held": qt.held,
		"need": f.Need, "channel": f.Channel, "partner": f.Partner, "kind": f.Kind, "assignee": f.Assignee, "me": f.Me,
		"limit": limit, "offset": f.Offset}

	tx, err := s.db.Read.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res := &QueueResult{Today: today, Items: []*QueueItem{}}
	if res.Counts, err = queueCounts(ctx, tx, &f, vals); err != nil {
		return nil, err
	}

	view, open := viewSQL(f.State)
	cond := f.filterSQL(true)
	// The open views walk the queue's partial index in due order and stop
	// at the page; the done view walks its own index newest first. Named,
	// because SQLite otherwise picks followup_state_due for the state
	// condition and sorts every open follow-up for each page. A partner's
	// follow-ups are found from its referrals instead (a few hundred, then
	// sorted), not by testing every open follow-up.
	from := `followup f INDEXED BY followup_queue`
	where := openStates + ` AND ` + view + ` AND ` + cond
	order := `f.due_at, f.id`
	switch {
	case !open:
		from = `followup f INDEXED BY followup_done`
		if f.Partner != "" {
			from = `followup f INDEXED BY followup_report`
		}
		where = view + ` AND ` + cond
		order = `f.updated_at DESC, f.id DESC`
	case f.Partner != "":
		from = `followup f INDEXED BY followup_queue_referral`
	}
	if n, ok := res.Counts.total(&f); ok {
		res.Total = n
	} else {
		q, args := named(`SELECT COUNT(*) FROM `+from+` WHERE `+where, vals)
		if err := tx.QueryRowContext(ctx, q, args...).Scan(&res.Total); err != nil {
			return nil, fmt.Errorf("count queue: %w", err)
		}
	}
	q, args := named(`SELECT f.id FROM `+from+` WHERE `+where+` ORDER BY `+order+` LIMIT :limit OFFSET :offset`, vals)
	ids, err := queryStrings(ctx, tx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	if len(ids) == 0 {
		return res, nil
	}
	if res.Items, err = loadQueueItems(ctx, tx, ids); err != nil {
		return nil, err
	}
	return res, nil
}

// total returns the size of f's view when the counts hold it already.
func (c QueueCounts) total(f *QueueFilter) (int, bool) {
	switch {
	case f.Assignee == "":
		switch f.State {
		case QueueDue:
			return c.Due, true
		case QueueOverdue:
			return c.Overdue, true
		case QueueUpcoming:
			return c.Upcoming, true
		case QueueDone:
			return c.Done, true
		}
	case f.State == QueueDue && f.Assignee == AssigneeNone:
		return c.Unassigned, true
	case f.State == QueueDue && f.Assignee == f.Me:
		return c.Mine, true
	}
	return 0, false
}

// queueCounts counts every view under f's need, partner, channel and kind.
//
// The open views are sums of ranges of the count index (state, kind,
// due_at), which SQLite counts without evaluating anything per row but
// the filters; the claimed ones come from the index of claimed follow-ups
// (few). A partner's open follow-ups are few (those of its referrals):
// they are read and sorted into views here. Reading every open follow-up
// into Go instead cost 30 to 100 ms at 26,000 of them
// (docs/benchmarks.md, "Follow-up queue").
func queueCounts(ctx context.Context, tx *sql.Tx, f *QueueFilter, vals map[string]any) (QueueCounts, error) {
	var c QueueCounts
	var err error
	if f.Partner != "" {
		c, err = partnerCounts(ctx, tx, f, vals)
	} else {
		c, err = rangeCounts(ctx, tx, f, vals)
	}
	if err != nil {
		return c, err
	}
	cond := f.filterSQL(false)
	from := `followup f INDEXED BY followup_done`
	if f.Partner != "" {
		from = `followup f INDEXED BY followup_report`
	}
	q, args := named(`SELECT COUNT(*) FROM `+from+` WHERE f.state = 'done' AND `+cond, vals)
	if err := tx.QueryRowContext(ctx, q, args...).Scan(&c.Done); err != nil {
		return c, fmt.Errorf("count done: %w", err)
	}
	return c, nil
}

// rangeCounts counts the open views as ranges. A view is:
//
//	tasks (call, callback) pending, due before tomorrow (upcoming: after);
//	texts (checkin, reminder, final) unsure or failed, whenever due;
//	texts pending, due before held (a day late).
//
// Overdue is the part of each due before today.
func rangeCounts(ctx context.Context, tx *sql.Tx, f *QueueFilter, vals map[string]any) (QueueCounts, error) {
	var c QueueCounts
	cond := f.filterSQL(false)
	count := func(where string) string {
		return `(SELECT COUNT(*) FROM followup f INDEXED BY followup_queue_count WHERE ` + openStates + ` AND ` + where + ` AND ` + cond + `)`
	}
	claimed := func(who string) string {
		return `(SELECT COUNT(*) FROM followup f INDEXED BY followup_queue_claimed WHERE ` + openStates + ` AND f.assignee <> '' AND ` +
			who + ` AND ` + dueSQL + ` AND ` + cond + `)`
	}
	const task, text = `f.state = 'pending' AND f.kind IN ('call','callback')`, `f.kind IN ('checkin','reminder','final')`
	q, args := named(`SELECT `+strings.Join([]string{
		count(task + ` AND f.due_at < :today`),
		count(task + ` AND f.due_at >= :today AND f.due_at < :tomorrow`),
		count(task + ` AND f.due_at >= :tomorrow`),
		count(`f.state IN ('unsure','failed') AND ` + text + ` AND f.due_at < :today`),
		count(`f.state IN ('unsure','failed') AND ` + text + ` AND f.due_at >= :today`),
		count(`f.state = 'pending' AND ` + text + ` AND f.due_at < :held AND f.due_at < :today`),
		count(`f.state = 'pending' AND ` + text + ` AND f.due_at < :held AND f.due_at >= :today`),
		claimed(`1`),
		claimed(`f.assignee = :me`),
	}, ", "), vals)
	var taskLate, taskToday, textLate, textToday, heldLate, heldToday, assigned int
	if err := tx.QueryRowContext(ctx, q, args...).Scan(&taskLate, &taskToday, &c.Upcoming, &textLate, &textToday,
		&heldLate, &heldToday, &assigned, &c.Mine); err != nil {
		return c, fmt.Errorf("count queue views: %w", err)
	}
	c.Overdue = taskLate + textLate + heldLate
	c.Due = c.Overdue + taskToday + textToday + heldToday
	c.Unassigned = c.Due - assigned
	return c, nil
}

// partnerCounts counts the open views of a partner's follow-ups, read from
// its referrals and sorted into views here.
func partnerCounts(ctx context.Context, tx *sql.Tx, f *QueueFilter, vals map[string]any) (QueueCounts, error) {
	var c QueueCounts
	q, args := named(`SELECT f.kind, f.state, f.due_at, f.assignee FROM followup f INDEXED BY followup_queue_referral WHERE `+
		openStates+` AND `+f.filterSQL(false), vals)
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return c, fmt.Errorf("count queue views: %w", err)
	}
	defer rows.Close()
	today, tomorrow, held := vals["today"].(string), vals["tomorrow"].(string), vals["held"].(string)
	var kind, state, due, assignee string
	for rows.Next() {
		if err := rows.Scan(&kind, &state, &due, &assignee); err != nil {
			return c, err
		}
		// Times are fixed-width UTC text, so they compare as strings.
		task := kind == KindCall || kind == KindCallback
		switch {
		case task && state == FollowupPending && due >= tomorrow:
			c.Upcoming++
			continue
		case task && state != FollowupPending, !task && state == FollowupPending && due >= held:
			continue // not the queue's: a task never leaves pending open; a text not yet late
		}
		c.Due++
		if due < today {
			c.Overdue++
		}
		switch {
		case assignee == "":
			c.Unassigned++
		case assignee == f.Me:
			c.Mine++
		}
	}
	return c, rows.Err()
}

func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// loadQueueItems loads the follow-ups with ids, in that order, with their
// referrals and latest replies: three queries for the whole page.
func loadQueueItems(ctx context.Context, q querier, ids []string) ([]*QueueItem, error) {
	fs, err := queryFollowups(ctx, q, `f.id IN (`+placeholders(len(ids))+`)`, anySlice(ids)...)
	if err != nil {
		return nil, err
	}
	byID := map[string]*Followup{}
	var refIDs []string
	seen := map[string]bool{}
	for _, f := range fs {
		byID[f.ID] = f
		if !seen[f.ReferralID] {
			seen[f.ReferralID] = true
			refIDs = append(refIDs, f.ReferralID)
		}
	}
	rs, err := loadReferrals(ctx, q, `r.id IN (`+placeholders(len(refIDs))+`)`, anySlice(refIDs)...)
	if err != nil {
		return nil, err
	}
	refs := map[string]*Referral{}
	for _, r := range rs {
		refs[r.ID] = r
	}
	type reply struct {
		text string
		at   *time.Time
	}
	replies := map[string]reply{}
	rows, err := q.QueryContext(ctx, `SELECT f.referral_id, f.reply, f.replied_at FROM followup f
		WHERE f.referral_id IN (`+placeholders(len(refIDs))+`) AND f.replied_at IS NOT NULL ORDER BY f.replied_at`, anySlice(refIDs)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, text string
		var at sql.NullString
		if err := rows.Scan(&id, &text, &at); err != nil {
			return nil, err
		}
		t, err := parseNullTime(at)
		if err != nil {
			return nil, err
		}
		replies[id] = reply{text, t} // the latest wins
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	items := make([]*QueueItem, 0, len(ids))
	for _, id := range ids {
		f := byID[id]
		if f == nil || refs[f.ReferralID] == nil {
			continue // closed or removed between the two reads: not possible in one transaction, but harmless
		}
		rp := replies[f.ReferralID]
		items = append(items, &QueueItem{Followup: f, Referral: refs[f.ReferralID], LastReply: rp.text, LastReplyAt: rp.at})
	}
	return items, nil
}

// Partners returns the organizations referrals have named, by name: the
// choices of the queue's partner filter.
func (s *Store) Partners(ctx context.Context) ([]string, error) {
	return queryStrings(ctx, s.db.Read, `SELECT DISTINCT organization FROM referral_service WHERE organization <> '' ORDER BY organization`)
}

// IsOpen reports whether staff may still act on f: a pending task or text,
// or a text that may have gone out or failed.
func (f *Followup) IsOpen() bool {
	return f.State == FollowupPending || f.State == FollowupUnsure || f.State == FollowupFailed
}

// followupTx begins a write transaction and loads the follow-up and its
// referral's client id.
func (s *Store) followupTx(ctx context.Context, id string) (*sql.Tx, *Followup, string, error) {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, "", err
	}
	f, err := findFollowup(ctx, tx, id)
	if err != nil {
		tx.Rollback()
		return nil, nil, "", err
	}
	clientID, err := referralClient(ctx, tx, f.ReferralID)
	if err != nil {
		tx.Rollback()
		return nil, nil, "", err
	}
	return tx, f, clientID, nil
}

// setAssignee records a change of assignee with its event.
func setAssignee(ctx context.Context, tx querier, f *Followup, assignee, actor, clientID string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE followup SET assignee = ?, updated_at = ? WHERE id = ?`, assignee, formatTime(now), f.ID); err != nil {
		return fmt.Errorf("update follow-up: %w", err)
	}
	ev := newEvent{ReferralID: f.ReferralID, ClientID: clientID, Actor: actor, At: now, Action: ActionFollowupChanged, Field: "assignee",
		Before: map[string]any{"id": f.ID, "kind": f.Kind, "assignee": f.Assignee},
		After:  map[string]any{"id": f.ID, "kind": f.Kind, "assignee": assignee}}
	f.Assignee, f.UpdatedAt = assignee, now
	return writeEvents(ctx, tx, ev)
}

// ClaimFollowup assigns an open follow-up to actor (a staff user id).
// Claiming one's own claim again changes nothing (changed is false); a
// follow-up claimed by someone else is ECONFLICT (they, or anyone, unclaim
// it first), and so is one already closed.
func (s *Store) ClaimFollowup(ctx context.Context, id, actor string) (f *Followup, changed bool, err error) {
	if err := validateActor("actor", actor); err != nil {
		return nil, false, err
	}
	now := s.now()
	tx, f, clientID, err := s.followupTx(ctx, id)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	switch {
	case f.Assignee == actor:
		return f, false, nil
	case !f.IsOpen():
		return f, false, apperr.Errorf(apperr.ECONFLICT, "This follow-up is already %s: there is nothing to claim.", f.State)
	case f.Assignee != "":
		return f, false, apperr.Errorf(apperr.ECONFLICT, "Someone else has claimed this follow-up; unclaim it first to take it over.")
	}
	if err := setAssignee(ctx, tx, f, actor, actor, clientID, now); err != nil {
		return nil, false, err
	}
	return f, true, tx.Commit()
}

// UnclaimFollowup clears a follow-up's assignee, whoever claimed it (staff
// cover for each other). One nobody claimed is left as it is (changed
// false).
func (s *Store) UnclaimFollowup(ctx context.Context, id, actor string) (f *Followup, changed bool, err error) {
	if err := validateActor("actor", actor); err != nil {
		return nil, false, err
	}
	now := s.now()
	tx, f, clientID, err := s.followupTx(ctx, id)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	if f.Assignee == "" {
		return f, false, nil
	}
	if err := setAssignee(ctx, tx, f, "", actor, clientID, now); err != nil {
		return nil, false, err
	}
	return f, true, tx.Commit()
}

// Reschedule is a new due time for a follow-up, and why.
type Reschedule struct {
	DueAt  time.Time
	Reason string
}

// Validate checks the new due time against now and the reason.
func (r *Reschedule) Validate(now time.Time) error {
	if r.DueAt.IsZero() {
		return invalid("due_at", "required: the new date and time")
	}
	if r.DueAt.Before(now.Add(-time.Minute)) {
		return invalid("due_at", "must not be in the past")
	}
	if r.DueAt.After(now.AddDate(1, 0, 0)) {
		return invalid("due_at", "must be within a year")
	}
	return checkNote("reason", r.Reason, true)
}

// checkNote checks a one-paragraph text a person typed.
func checkNote(field, s string, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return invalid(field, "required")
	}
	if !validText(s) {
		return invalid(field, "must be text without control characters")
	}
	if n := utf8.RuneCountInString(s); n > maxNote {
		return invalid(field, "at most %d characters, got %d", maxNote, n)
	}
	return nil
}

// RescheduleFollowup moves a pending follow-up (a task, or a text held
// back) to a new due time. Moving it to the time it already has changes
// nothing (changed false); one not pending is ECONFLICT.
func (s *Store) RescheduleFollowup(ctx context.Context, id string, r Reschedule, actor string) (f *Followup, changed bool, err error) {
	if err := validateActor("actor", actor); err != nil {
		return nil, false, err
	}
	now := s.now()
	r.Reason = strings.TrimSpace(r.Reason)
	r.DueAt = r.DueAt.UTC().Truncate(time.Microsecond)
	if err := r.Validate(now); err != nil {
		return nil, false, err
	}
	tx, f, clientID, err := s.followupTx(ctx, id)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	if f.State != FollowupPending {
		return f, false, apperr.Errorf(apperr.ECONFLICT, "Only a follow-up still waiting can be rescheduled; this one is %s.", f.State)
	}
	if f.DueAt.Equal(r.DueAt) {
		return f, false, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE followup SET due_at = ?, reason = ?, updated_at = ? WHERE id = ?`,
		formatTime(r.DueAt), r.Reason, formatTime(now), f.ID); err != nil {
		return nil, false, fmt.Errorf("update follow-up: %w", err)
	}
	ev := newEvent{ReferralID: f.ReferralID, ClientID: clientID, Actor: actor, At: now, Action: ActionFollowupChanged, Field: "due_at",
		Before: map[string]any{"id": f.ID, "kind": f.Kind, "due_at": f.DueAt},
		After:  map[string]any{"id": f.ID, "kind": f.Kind, "due_at": r.DueAt, "reason": r.Reason}}
	if err := writeEvents(ctx, tx, ev); err != nil {
		return nil, false, err
	}
	f.DueAt, f.Reason, f.UpdatedAt = r.DueAt, r.Reason, now
	return f, true, tx.Commit()
}

// CloseFollowup marks an open follow-up done, with the reason (what staff
// did: "called, left a message", "checked Twilio: it was delivered"). One
// already done or cancelled is left as it is (changed false); a text sent
// or being sent is ECONFLICT (the scheduler owns it).
func (s *Store) CloseFollowup(ctx context.Context, id, reason, actor string) (f *Followup, changed bool, err error) {
	if err := validateActor("actor", actor); err != nil {
		return nil, false, err
	}
	reason = strings.TrimSpace(reason)
	if err := checkNote("reason", reason, true); err != nil {
		return nil, false, err
	}
	now := s.now()
	tx, f, clientID, err := s.followupTx(ctx, id)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	switch {
	case f.State == FollowupDone || f.State == FollowupCancelled:
		return f, false, nil
	case !f.IsOpen():
		return f, false, apperr.Errorf(apperr.ECONFLICT, "This text is %s: the scheduler is handling it, there is nothing to close.", f.State)
	}
	if err := setFollowupState(ctx, tx, f, FollowupDone, reason, actor, clientID, now); err != nil {
		return nil, false, err
	}
	f.ClosedBy, f.ClosedAt, f.UpdatedAt = actor, &now, now
	return f, true, tx.Commit()
}

// CloseTasks closes the referral's open call and callback tasks with the
// reason, as staff do once they have recorded what came of a call. It
// returns how many it closed.
func (s *Store) CloseTasks(ctx context.Context, referralID, reason, actor string) (int, error) {
	if err := validateActor("actor", actor); err != nil {
		return 0, err
	}
	reason = strings.TrimSpace(reason)
	if err := checkNote("reason", reason, true); err != nil {
		return 0, err
	}
	now := s.now()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	clientID, err := referralClient(ctx, tx, referralID)
	if err != nil {
		return 0, err
	}
	fs, err := queryFollowups(ctx, tx, `f.referral_id = ? AND f.state = 'pending' AND f.kind IN ('call','callback')`, referralID)
	if err != nil {
		return 0, err
	}
	for _, f := range fs {
		if err := setFollowupState(ctx, tx, f, FollowupDone, reason, actor, clientID, now); err != nil {
			return 0, err
		}
	}
	return len(fs), tx.Commit()
}

// AddNote appends a staff note to a referral's audit trail. The same note
// by the same person twice in a row is written once (a form sent twice).
func (s *Store) AddNote(ctx context.Context, referralID, note, actor string) (added bool, err error) {
	if err := validateActor("actor", actor); err != nil {
		return false, err
	}
	note = strings.TrimSpace(note)
	if err := checkNote("note", note, true); err != nil {
		return false, err
	}
	now := s.now()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	clientID, err := referralClient(ctx, tx, referralID)
	if err != nil {
		return false, err
	}
	after, err := eventJSON(note)
	if err != nil {
		return false, err
	}
	var last sql.NullString
	var lastActor string
	err = tx.QueryRowContext(ctx, `SELECT after, actor FROM referral_event WHERE referral_id = ? AND action = ? ORDER BY id DESC LIMIT 1`,
		referralID, ActionNote).Scan(&last, &lastActor)
	if err != nil && err != sql.ErrNoRows {
		return false, err
	}
	if err == nil && lastActor == actor && last.Valid && last.String == after {
		return false, nil
	}
	if err := writeEvents(ctx, tx, newEvent{ReferralID: referralID, ClientID: clientID, Actor: actor, At: now,
		Action: ActionNote, Field: "notes", After: note}); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// ReferAgain refers the client of referral `from` to more services: a new
// referral with the same client (found by phone, so their consent carries
// over; an anonymous client gets a new anonymous record with the same name
// and language), need and ZIP, made by staff. The key makes it safe to
// send twice. The first referral's trail records the new one.
func (s *Store) ReferAgain(ctx context.Context, from string, serviceIDs []string, notes, key, actor string) (*Referral, bool, error) {
	old, err := s.GetReferral(ctx, from)
	if err != nil {
		return nil, false, err
	}
	if old.Client.DeletedAt != nil {
		return nil, false, apperr.Errorf(apperr.ECONFLICT, "This person's details were deleted at their request: make a new referral instead.")
	}
	n := NewReferral{
		Client:         Client{Phone: old.Client.Phone, Name: old.Client.Name, Language: old.Client.Language},
		Channel:        ChannelStaff,
		NeedCategory:   old.NeedCategory,
		ZIP:            old.ZIP,
		ServiceIDs:     serviceIDs,
		CreatedBy:      actor,
		Notes:          strings.TrimSpace(notes),
		IdempotencyKey: key,
	}
	r, created, err := s.CreateReferral(ctx, n)
	if err != nil || !created {
		return r, created, err
	}
	// The link back, in its own transaction: the new referral stands on
	// its own if this is lost.
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return r, true, err
	}
	defer tx.Rollback()
	if err := writeEvents(ctx, tx, newEvent{ReferralID: old.ID, ClientID: old.ClientID, Actor: actor, At: r.CreatedAt,
		Action: ActionReferredAgain, After: map[string]any{"referral_id": r.ID, "service_ids": serviceIDs}}); err != nil {
		return r, true, err
	}
	return r, true, tx.Commit()
}
