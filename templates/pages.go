package templates

// pages lists every page, by file under templates/ without ".html"; the
// name is what handlers pass to Render. New checks this list against the
// files both ways. Group them by the package that renders them.
var pages = []string{
	// internal/auth: sign-in, accounts, the staff home.
	"staff/login",
	"staff/invite",
	"staff/users",
	"staff/link",
	"staff/home",

	// hotline: the text-message log (the outbox page).
	"staff/outbox",
	"staff/outbox_message",

	// referral: the follow-up queue, a referral's page, manual entry.
	"staff/queue",
	"staff/queue_referral",
	"staff/queue_new",
}
