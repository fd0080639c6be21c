package hotline

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/secondchancekc/secondchance/internal/sms"
)

// Conversations is the hotline's SMS search: a need word with an optional
// ZIP code ("jobs 64127", "vivienda 64108"), MORE for the next results,
// 1-3 for one result's details, STAFF or LLAMAR for a call back, ENGLISH
// or ESPAÑOL, and anything else as a search. What each number last
// searched is kept in SQLite (hotline_sms_conversation) for TTL. Every
// reply is GSM-7 and fits two segments.
type Conversations struct {
	DB        *db.DB
	Finder    Finder
	Referrals Referrals
	// Crisis, if set, says whether a text says someone may be in danger
	// (search.Engine.Crisis): the reply then starts with the crisis line.
	Crisis func(text string) bool
	// TTL is how long a conversation is remembered (0 is a day).
	TTL time.Duration
	Log *slog.Logger
	Now func() time.Time
}

var _ Conversation = (*Conversations)(nil)

// conversation is one number's state.
type conversation struct {
	Phone, Lang, Need, Query, ZIP string
	Results                       []Place
	Page                          int
	ReferralID                    string
	known                         bool
	// logReferral, when set, records the referral of the results being
	// texted; the conversation's write runs it first (one commit with the
	// answer) and keeps its id.
	logReferral ReferralWrite
}

var (
	moreWords    = []string{"MORE", "MAS", "MÁS", "NEXT", "SIGUIENTE"}
	staffWords   = []string{"STAFF", "LLAMAR", "CALL", "CALL ME", "LLAMAME", "LLÁMAME", "PERSON", "PERSONA"}
	englishWords = []string{"ENGLISH", "INGLES", "INGLÉS"}
	spanishKeys  = []string{"ESPAÑOL", "ESPANOL", "SPANISH"}
)

// smsTexts are the conversation's replies, written in GSM-7 (Spanish
// without á, í, ó, ú).
var smsTexts = map[string]map[string]string{
	"en": {
		"empty":   "Second Chance KC: text what you need and your ZIP, like JOBS 64127, HOUSING or FOOD. STAFF for a call back. ESPANOL para espanol. STOP to opt out.",
		"none":    "Sorry, we found nothing for %q. Try one word like JOBS, HOUSING, FOOD, ID or CLASSES, with your ZIP. Or reply STAFF and we will call you.",
		"zipBad":  "(We don't know ZIP %s, so these are not sorted by distance.) ",
		"head":    "Second Chance KC: ",
		"foot":    "Reply 1-3 for details, MORE for more, STAFF for a call.",
		"crisis":  "If you might hurt yourself, call or text 988 now, any hour. Danger: call 911.",
		"footEnd": "Reply 1-3 for details, STAFF for a call.",
		"noMore":  "That's all we found. Text a new search, like JOBS 64127, or STAFF for a call.",
		"noList":  "Text what you need first, like JOBS 64127 or FOOD. Then reply 1-3 for details.",
		"noItem":  "There is no result %s. Reply 1-%d for details.",
		"staff":   "Thanks. A Second Chance KC staff member will call you at this number soon, during office hours. You can also call (816) 231-0217.",
		"lang":    "OK, we'll text you in English. Text what you need, like JOBS 64127.",
		"open":    "Open now.",
		"opens":   "Opens %s.",
		"phone":   "Call",
		"miles":   "%s mi",
	},
	"es": {
		"empty":   "Second Chance KC: envie lo que necesita y su codigo postal, como TRABAJO 64127, VIVIENDA o COMIDA. LLAMAR para que le llamemos. ENGLISH for English. STOP para cancelar.",
		"none":    "Perdon, no encontramos nada para %q. Pruebe una palabra como TRABAJO, VIVIENDA, COMIDA, DOCUMENTOS o CLASES, con su codigo postal. O responda LLAMAR.",
		"zipBad":  "(No conocemos el codigo %s; no estan ordenados por distancia.) ",
		"head":    "Second Chance KC: ",
		"foot":    "Responda 1-3 para detalles, MAS para mas, LLAMAR para una llamada.",
		"crisis":  "Si piensa hacerse dano, llame o escriba al 988 ya, a toda hora. Peligro: 911.",
		"footEnd": "Responda 1-3 para detalles, LLAMAR para una llamada.",
		"noMore":  "Eso es todo lo que encontramos. Envie otra busqueda, como TRABAJO 64127, o LLAMAR.",
		"noList":  "Primero envie lo que necesita, como TRABAJO 64127 o COMIDA. Luego responda 1-3 para detalles.",
		"noItem":  "No hay resultado %s. Responda 1-%d para detalles.",
		"staff":   "Gracias. Alguien de Second Chance KC le llamara a este numero pronto, en horario de oficina. Tambien puede llamar al (816) 231-0217.",
		"lang":    "Bien, le escribiremos en espanol. Envie lo que necesita, como TRABAJO 64127.",
		"open":    "Abierto ahora.",
		"opens":   "Abre %s.",
		"phone":   "Tel",
		"miles":   "%s mi",
	},
}

func smsText(lang, key string) string {
	if t, ok := smsTexts[lang][key]; ok {
		return t
	}
	return smsTexts["en"][key]
}

func (cv *Conversations) now() time.Time {
	if cv.Now == nil {
		return time.Now().UTC()
	}
	return cv.Now().UTC()
}

func (cv *Conversations) ttl() time.Duration {
	if cv.TTL <= 0 {
		return 24 * time.Hour
	}
	return cv.TTL
}

// Answer replies to one text (already checked for STOP, HELP and follow-up
// answers by the SMS handler, which calls it once per MessageSid).
func (cv *Conversations) Answer(ctx context.Context, sid, phone, body string) (string, error) {
	reply, save, err := cv.answerTx(ctx, sid, phone, body)
	if err != nil {
		return "", err
	}
	if err := cv.DB.Batch.Do(ctx, save); err != nil {
		return "", err
	}
	return reply, nil
}

// answerTx is Answer without the write: it returns the reply and the
// write that keeps the conversation, which the SMS handler commits in the
// transaction that records its answer (one commit, not two).
func (cv *Conversations) answerTx(ctx context.Context, sid, phone, body string) (string, func(context.Context, *sql.Tx) error, error) {
	c, err := cv.load(ctx, phone)
	if err != nil {
		return "", nil, err
	}
	reply, err := cv.answer(ctx, c, sid, body)
	if err != nil {
		return "", nil, err
	}
	return fitSMS(reply), cv.saveTx(c), nil
}

func (cv *Conversations) answer(ctx context.Context, c *conversation, sid, body string) (string, error) {
	kw := keyword(body)
	if !c.known && looksSpanish(body) {
		c.Lang = "es"
	}
	switch {
	case kw == "":
		return smsText(c.Lang, "empty"), nil
	case slices.Contains(englishWords, kw):
		c.Lang = "en"
		return smsText(c.Lang, "lang"), nil
	case slices.Contains(spanishKeys, kw):
		c.Lang = "es"
		return smsText(c.Lang, "lang"), nil
	case slices.Contains(moreWords, kw):
		if len(c.Results) == 0 {
			return smsText(c.Lang, "noList"), nil
		}
		if c.Page+3 >= len(c.Results) {
			return smsText(c.Lang, "noMore"), nil
		}
		c.Page += 3
		return cv.list(ctx, c, sid, "")
	case kw == "1" || kw == "2" || kw == "3":
		if len(c.Results) == 0 {
			return smsText(c.Lang, "noList"), nil
		}
		i := c.Page + int(kw[0]-'1')
		n := min(3, len(c.Results)-c.Page)
		if i >= len(c.Results) || int(kw[0]-'1') >= n {
			return fmt.Sprintf(smsText(c.Lang, "noItem"), kw, n), nil
		}
		return detailText(c.Lang, c.Results[i]), nil
	case slices.Contains(staffWords, kw):
		need := c.Need
		if need == "" {
			need = "other"
		}
		if err := cv.Referrals.Callback(ctx, CallbackRequest{ReferralID: c.ReferralID, Phone: c.Phone, Language: c.Lang, Channel: "sms",
			Need: need, ZIP: c.ZIP, Reason: "asked by text for a call (" + strings.TrimSpace(body) + ")", Key: "sms:" + sid + ":callback"}); err != nil {
			return "", err
		}
		return smsText(c.Lang, "staff"), nil
	}
	// A search: a need word or free words, and perhaps a ZIP code.
	var zip string
	var rest []string
	for _, w := range strings.Fields(body) {
		d := strings.Trim(w, ",.;:!?")
		if len(d) == 5 && strings.Trim(d, "0123456789") == "" && zip == "" {
			zip = d
			continue
		}
		rest = append(rest, w)
	}
	text := strings.Join(rest, " ")
	if utf8.RuneCountInString(text) > 200 {
		text = string([]rune(text)[:200])
	}
	need := NeedFromText(text)
	q := FindQuery{Text: text, ZIP: zip, Language: c.Lang, Channel: "sms", Limit: 9}
	if len(words(text)) == 1 && need != "other" && need != "person" {
		q.Text, q.Need = "", need // one need word: the category's services
	}
	if text == "" && zip != "" && c.Need != "" {
		// Just a ZIP code: the last need, near it.
		q.Need, q.Text, need = c.Need, c.Query, c.Need
	}
	prefix := ""
	if cv.Crisis != nil && cv.Crisis(text) {
		// Someone may be in danger: the crisis line before anything else.
		prefix = smsText(c.Lang, "crisis") + " "
	}
	places, err := cv.Finder.Find(ctx, q)
	if apperr.Code(err) == apperr.EINVALID && q.ZIP != "" {
		prefix += fmt.Sprintf(smsText(c.Lang, "zipBad"), q.ZIP)
		q.ZIP = ""
		places, err = cv.Finder.Find(ctx, q)
	}
	if err != nil {
		return "", err
	}
	if need == "person" {
		need = "other"
	}
	c.Need, c.Query, c.ZIP, c.Results, c.Page, c.ReferralID = need, q.Text, q.ZIP, places, 0, ""
	if len(places) == 0 {
		shown := strings.TrimSpace(body)
		if utf8.RuneCountInString(shown) > 40 {
			shown = string([]rune(shown)[:40])
		}
		return fitSMS(prefix + fmt.Sprintf(smsText(c.Lang, "none"), shown)), nil
	}
	return cv.list(ctx, c, sid, prefix)
}

// list texts the current page of results and logs them as a referral.
func (cv *Conversations) list(ctx context.Context, c *conversation, sid, prefix string) (string, error) {
	end := min(c.Page+3, len(c.Results))
	ids := make([]string, 0, 3)
	for _, p := range c.Results[c.Page:end] {
		ids = append(ids, p.ServiceID)
	}
	if cv.Referrals != nil && IsE164(c.Phone) {
		write, err := cv.Referrals.LogReferral(ctx, NewReferral{Phone: c.Phone, Language: c.Lang, Channel: "sms", Need: c.Need, ZIP: c.ZIP,
			ServiceIDs: ids, Key: "sms:" + sid + ":referral"})
		if err != nil {
			return "", err
		}
		c.logReferral = write
	}
	return listBody(c.Lang, prefix, c.Results[c.Page:end], end < len(c.Results), true), nil
}

// listText is the text of up to three places, numbered 1-3, within two
// segments: names are shortened until it fits. withFoot adds how to reply.
func listText(lang string, places []Place, _ int, more bool) string {
	return listBody(lang, "", places, more, true)
}

// listBody is listText after a prefix (the crisis line, or a ZIP code not
// understood), names shortened until the whole fits.
func listBody(lang, prefix string, places []Place, more, withFoot bool) string {
	foot := ""
	if withFoot {
		foot = " " + smsText(lang, "footEnd")
		if more {
			foot = " " + smsText(lang, "foot")
		}
	}
	for limit := 60; ; limit -= 8 {
		var b strings.Builder
		b.WriteString(prefix)
		b.WriteString(smsText(lang, "head"))
		for i, p := range places {
			name := sms.ToGSM(p.name(lang))
			if utf8.RuneCountInString(name) > limit {
				name = strings.TrimSpace(string([]rune(name)[:max(limit-3, 8)])) + "..."
			}
			fmt.Fprintf(&b, "%d) %s", i+1, name)
			if p.Phone != "" {
				b.WriteString(" " + sms.ToGSM(p.Phone))
			}
			if p.HasMiles {
				fmt.Fprintf(&b, " ("+smsText(lang, "miles")+")", fmt.Sprintf("%.1f", p.Miles))
			}
			b.WriteString(". ")
		}
		out := strings.TrimSpace(b.String()) + foot
		if sms.Segments(out) <= sms.MaxSegments || limit <= 12 {
			return fitSMS(out)
		}
	}
}

// detailText is one place: name, phone, address, hours, what they offer.
func detailText(lang string, p Place) string {
	var b strings.Builder
	b.WriteString(sms.ToGSM(p.name(lang)))
	if p.Phone != "" {
		b.WriteString(". " + smsText(lang, "phone") + " " + sms.ToGSM(p.Phone))
	}
	if p.Address != "" {
		b.WriteString(". " + sms.ToGSM(strings.TrimSuffix(p.Address+", "+p.City, ", ")))
	}
	if p.HoursKnown {
		if p.OpenNow {
			b.WriteString(". " + smsText(lang, "open"))
		} else if p.NextOpen != nil {
			day := p.NextOpen.Format("Mon 3:04 PM")
			if lang == "es" {
				day = p.NextOpen.Format("02/01 15:04")
			}
			b.WriteString(". " + fmt.Sprintf(smsText(lang, "opens"), day))
		}
	} else {
		b.WriteString(".")
	}
	if s := sms.ToGSM(p.summary(lang)); s != "" {
		b.WriteString(" " + s)
	}
	return fitSMS(b.String())
}

// fitSMS makes a reply GSM-7 and cuts it to two segments.
func fitSMS(s string) string {
	s = sms.ToGSM(s)
	if sms.Segments(s) <= sms.MaxSegments {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && sms.Segments(string(r)+"...") > sms.MaxSegments {
		r = r[:len(r)-1]
	}
	return strings.TrimSpace(string(r)) + "..."
}

func (cv *Conversations) load(ctx context.Context, phone string) (*conversation, error) {
	c := &conversation{Phone: phone, Lang: "en"}
	var results string
	err := cv.DB.ReadStmts.QueryRow(ctx, `SELECT language, need, query, zip, results, page, referral_id FROM hotline_sms_conversation
		WHERE phone = ? AND expires_at > ?`, phone, formatTime(cv.now())).Scan(&c.Lang, &c.Need, &c.Query, &c.ZIP, &results, &c.Page, &c.ReferralID)
	if errors.Is(err, sql.ErrNoRows) {
		return c, nil
	} else if err != nil {
		return nil, fmt.Errorf("read sms conversation: %w", err)
	}
	c.known = true
	if err := json.Unmarshal([]byte(results), &c.Results); err != nil {
		return nil, fmt.Errorf("read sms conversation: %w", err)
	}
	return c, nil
}

// saveTx is the write that keeps c, for a transaction it shares (one commit
// with the text's answer, or with the call step that texted the results).
// Expired conversations of anyone are removed on the way.
func (cv *Conversations) saveTx(c *conversation) func(context.Context, *sql.Tx) error {
	now := cv.now()
	return func(ctx context.Context, tx *sql.Tx) error {
		if c.logReferral != nil {
			id, err := c.logReferral(ctx, tx)
			if err != nil {
				return fmt.Errorf("log referral: %w", err)
			}
			c.ReferralID = id
		}
		results, err := json.Marshal(c.Results)
		if err != nil {
			return err
		}
		if c.Results == nil {
			results = []byte("[]")
		}
		if _, err := cv.DB.Batch.Exec(ctx, tx, `DELETE FROM hotline_sms_conversation WHERE expires_at <= ?`, formatTime(now)); err != nil {
			return fmt.Errorf("expire sms conversations: %w", err)
		}
		if _, err := cv.DB.Batch.Exec(ctx, tx, `INSERT INTO hotline_sms_conversation (phone, language, need, query, zip, results, page,
		referral_id, updated_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (phone) DO UPDATE SET language = excluded.language, need = excluded.need, query = excluded.query, zip = excluded.zip,
		results = excluded.results, page = excluded.page, referral_id = excluded.referral_id, updated_at = excluded.updated_at,
		expires_at = excluded.expires_at`,
			c.Phone, c.Lang, c.Need, c.Query, c.ZIP, string(results), c.Page, c.ReferralID, formatTime(now), formatTime(now.Add(cv.ttl()))); err != nil {
			return fmt.Errorf("save sms conversation: %w", err)
		}
		return nil
	}
}

// remember returns the write that keeps results read out on a call and
// texted to the caller, so that replying 1-3 or MORE continues from them.
func (cv *Conversations) remember(phone, lang, need, query, zip string, results []Place, page int, referralID string) func(context.Context, *sql.Tx) error {
	if need == "" {
		need = "other"
	}
	return cv.saveTx(&conversation{Phone: phone, Lang: lang, Need: need, Query: query, ZIP: zip, Results: results, Page: page,
		ReferralID: referralID})
}

// bestEffort runs fn in a savepoint of tx: when fn fails, its writes are
// undone, failed is told, and the rest of the transaction goes on.
func bestEffort(ctx context.Context, tx *sql.Tx, fn func(context.Context, *sql.Tx) error, failed func(error)) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT best_effort`); err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		failed(err)
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO best_effort`); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `RELEASE best_effort`)
	return err
}
