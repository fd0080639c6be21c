package referral

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Reply codes: what a text answering a follow-up was read as.
const (
	ReplyGotHelp      = "1"       // got help (final: all set)
	ReplyNoHelpYet    = "2"       // reached them, no help yet (final: still need help)
	ReplyCouldntReach = "3"       // could not reach them
	ReplyNotTried     = "4"       // has not tried
	ReplyReached      = "reached" // "yes": reached them; whether they got help is asked next
	ReplyCall         = "call"    // asks for a staff call
	ReplyUnclear      = "unclear"
)

// Phrases of each answer, in English and Spanish, lower case without
// accents. Checked in this order, so "todavia no lo he intentado" is 4
// before "todavia no" is 2.
var replyPhrases = []struct {
	code    string
	phrases []string
}{
	{ReplyCall, []string{"call me", "please call", "call", "llamar", "llamame", "llamenme", "llameme", "llamada"}},
	{ReplyNotTried, []string{"haven't tried", "havent tried", "have not tried", "not tried", "didn't try", "didnt try",
		"did not try", "didn't go", "didnt go", "did not go", "haven't gone", "haven't called", "havent called", "not yet tried",
		"no lo he intentado", "no he intentado", "no he ido", "no fui", "no he llamado", "no lo intente", "no intente"}},
	{ReplyCouldntReach, []string{"couldn't reach", "couldnt reach", "could not reach", "can't reach", "cant reach",
		"cannot reach", "no answer", "didn't answer", "didnt answer", "nobody answer", "no one answer", "noone answer",
		"voicemail", "voice mail", "disconnected", "wrong number", "not in service", "closed",
		"no contestan", "no contesto", "no contesta", "no pude", "no me contestan", "numero equivocado", "no responden",
		"cerrado"}},
	{ReplyNoHelpYet, []string{"no help yet", "not yet", "no help", "didn't help", "didnt help", "did not help",
		"waiting", "waitlist", "wait list", "still need", "need help", "not eligible", "no luck",
		"todavia no", "aun no", "todavia necesito", "necesito ayuda", "en espera", "lista de espera", "no me ayudaron",
		"sin ayuda", "no califico"}},
	{ReplyGotHelp, []string{"got help", "got it", "they helped", "helped", "all set", "all good", "it worked", "worked out",
		"thank you", "thanks", "me ayudaron", "recibi ayuda", "recibi", "todo bien", "funciono", "gracias"}},
	{ReplyReached, []string{"yes", "yeah", "yep", "yup", "y", "si", "ok", "okay", "claro"}},
}

// ParseReply reads a text answering a follow-up: a digit 1 to 4 (alone or
// with words, "1.", "#2", "3 no answer"), or words in English or Spanish.
// For a final check (kind final), 1 means all set and 2 still needs help,
// and yes/sí read as 1.
func ParseReply(kind, body string) string {
	s := foldReply(body)
	if s == "" {
		return ReplyUnclear
	}
	maxDigit := '4'
	if kind == KindFinal {
		maxDigit = '2'
	}
	digit := rune(0)
	for _, tok := range strings.Fields(s) {
		if len(tok) == 1 && tok[0] >= '1' && rune(tok[0]) <= maxDigit {
			if digit != 0 && digit != rune(tok[0]) {
				return ReplyUnclear // "1 or 2"
			}
			digit = rune(tok[0])
		}
	}
	if digit != 0 {
		return string(digit)
	}
	padded := " " + s + " "
	for _, p := range replyPhrases {
		for _, ph := range p.phrases {
			if strings.Contains(padded, " "+ph+" ") {
				if kind == KindFinal {
					switch p.code {
					case ReplyGotHelp, ReplyReached:
						return ReplyGotHelp
					case ReplyNoHelpYet, ReplyCouldntReach, ReplyNotTried:
						return ReplyNoHelpYet
					}
				}
				return p.code
			}
		}
	}
	if kind == KindFinal && (s == "no" || s == "nope") {
		return ReplyNoHelpYet
	}
	return ReplyUnclear
}

// foldReply lower-cases a reply, drops accents and punctuation other than
// apostrophes, and joins the words with single spaces.
func foldReply(s string) string {
	s, _, _ = transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
	s = strings.ToLower(strings.ReplaceAll(s, "’", "'"))
	s = strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' {
			return r
		}
		return ' '
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
