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

	// referral: the reports.
	"staff/reports",

	// directory: keeping the directory true (verification queue, a
	// listing, an organization, the edit form, corrections, proposals).
	"staff/directory",
	"staff/directory_service",
	"staff/directory_org",
	"staff/directory_edit",
	"staff/directory_corrections",
	"staff/directory_correction",
	"staff/directory_proposals",
	"staff/directory_upload",

	// search: the public home page and search results.
	"public/home",
	"public/results",

	// directory: a service, its printable slip, an organization, and the
	// site's own pages; the friendly error page (templates.ErrorPage).
	"public/service",
	"public/slip",
	"public/organization",
	"public/about",
	"public/privacy",
	"public/error",

	// referral: "Text me this" when the form needs another try.
	"public/text",
}
