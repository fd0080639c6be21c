package referral

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/sms"
)

// The texts of the follow-up conversation, in English and Spanish. They are
// written in the GSM-7 alphabet (Spanish without á, í, ó, ú, which GSM-7
// lacks: one such letter would make the whole text UCS-2 and halve what
// fits in a segment) and with names folded to it, so that each fits in two
// segments (MaxSegments) however long the organization's name.
var texts = map[string]map[string]string{
	LanguageEN: {
		"checkin":  "Second Chance KC: did you reach %s about %s? Reply 1 got help, 2 reached them but no help yet, 3 couldn't reach them, 4 haven't tried. Reply STOP to opt out.",
		"final":    "Second Chance KC: did the help from %s with %s work out? Reply 1 yes, all set, 2 I still need help. Reply STOP to opt out.",
		"thanks1":  "Thank you! We're glad you got help. We'll check in once more in a few weeks. Reply STOP to opt out.",
		"offer":    "Thanks for telling us. Reply CALL and our staff will call you, or text what you need (like FOOD or JOB and your ZIP) for other places.",
		"done":     "Thank you! Good luck from all of us at Second Chance KC. Call (816) 231-0217 any time you need help.",
		"call":     "Thanks. A Second Chance KC staff member will call you soon. You can also call us at (816) 231-0217.",
		"clarify":  "Sorry, we didn't understand. Please reply with just a number: 1 got help, 2 reached them but no help yet, 3 couldn't reach them, 4 haven't tried.",
		"clarifyF": "Sorry, we didn't understand. Please reply 1 if you're all set, or 2 if you still need help.",
		"unclear":  "Thanks. A staff member will read your message and call you. You can also call (816) 231-0217.",
		"others":   "the other places we sent you to",
		"or":       "%s or %s",
	},
	LanguageES: {
		"checkin":  "Second Chance KC: ¿pudo comunicarse con %s sobre %s? Responda 1 recibi ayuda, 2 hable con ellos pero aun sin ayuda, 3 no pude comunicarme, 4 no lo he intentado. STOP para cancelar.",
		"final":    "Second Chance KC: ¿le funciono la ayuda de %s con %s? Responda 1 si, todo bien, 2 todavia necesito ayuda. STOP para cancelar.",
		"thanks1":  "¡Gracias! Nos alegra que recibio ayuda. Le escribiremos una vez mas en unas semanas. STOP para cancelar.",
		"offer":    "Gracias por avisarnos. Responda LLAMAR y le llamaremos, o escriba lo que necesita (como COMIDA o TRABAJO y su codigo postal) para otros lugares.",
		"done":     "¡Gracias! Buena suerte de parte de Second Chance KC. Llame al (816) 231-0217 cuando necesite ayuda.",
		"call":     "Gracias. Alguien de Second Chance KC le llamara pronto. Tambien puede llamar al (816) 231-0217.",
		"clarify":  "Perdon, no entendimos. Responda solo con un numero: 1 recibi ayuda, 2 hable con ellos pero aun sin ayuda, 3 no pude comunicarme, 4 no lo he intentado.",
		"clarifyF": "Perdon, no entendimos. Responda 1 si todo esta bien, o 2 si todavia necesita ayuda.",
		"unclear":  "Gracias. Alguien de nuestro equipo leera su mensaje y le llamara. Tambien puede llamar al (816) 231-0217.",
		"others":   "los otros lugares que le dimos",
		"or":       "%s u %s",
	},
}

// MaxSegments is the most SMS segments a follow-up text may take.
const MaxSegments = 2

func text(lang, key string) string {
	if t, ok := texts[lang][key]; ok {
		return t
	}
	return texts[LanguageEN][key]
}

// needName is how a need reads inside a sentence: "housing", "vivienda".
func needName(need, lang string) string {
	c, ok := directory.CategoryByKey(need)
	if !ok {
		if lang == LanguageES {
			return "lo que necesitaba"
		}
		return "what you needed"
	}
	n := c.NameEN
	if lang == LanguageES {
		n = c.NameES
	}
	return strings.ToLower(n)
}

// followupText composes the text of an SMS follow-up of kind checkin,
// reminder or final about the referral's services, in the client's
// language, within MaxSegments.
func followupText(kind, lang, need string, services []ReferredService) string {
	key := "checkin"
	if kind == KindFinal {
		key = "final"
	}
	org := ""
	if len(services) > 0 {
		org = services[0].Organization
		if org == "" {
			org = services[0].Name
		}
	}
	org = sms.ToGSM(org)
	tmpl := text(lang, key)
	need = sms.ToGSM(needName(need, lang))
	compose := func(org string) string {
		who := org
		if len(services) > 1 {
			who = fmt.Sprintf(text(lang, "or"), org, text(lang, "others"))
		}
		return fmt.Sprintf(tmpl, who, need)
	}
	msg := compose(org)
	// Shorten a long name until the text fits.
	for sms.Segments(msg) > MaxSegments && utf8.RuneCountInString(org) > 12 {
		r := []rune(org)
		org = strings.TrimSpace(string(r[:len(r)-len(r)/4])) + "..."
		msg = compose(org)
	}
	return msg
}
