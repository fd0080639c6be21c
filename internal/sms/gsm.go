// Package sms holds what every text message the program writes must
// respect: the GSM-7 alphabet and the segment count. The follow-up texts
// (referral) and the hotline's replies (hotline) both fit MaxSegments.
package sms

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// gsm7 is the GSM 03.38 basic character set; gsm7Ext the extension table,
// whose characters take two septets.
const (
	gsm7    = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Ext = "^{}\\[~]|€\f"
)

// Segments counts the SMS segments text takes: GSM-7 when every character
// is in that alphabet (160 septets in one segment, 153 each when split),
// else UCS-2 (70 code units, 67 each when split).
func Segments(text string) int {
	septets, isGSM := 0, true
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsm7, r):
			septets++
		case strings.ContainsRune(gsm7Ext, r):
			septets += 2
		default:
			isGSM = false
		}
	}
	if isGSM {
		if septets <= 160 {
			return 1
		}
		return (septets + 152) / 153
	}
	units := len(utf16Units(text))
	if units <= 70 {
		return 1
	}
	return (units + 66) / 67
}

func utf16Units(s string) []uint16 {
	var u []uint16
	for _, r := range s {
		if r >= 0x10000 {
			u = append(u, 0, 0)
		} else {
			u = append(u, uint16(r))
		}
	}
	return u
}

// ToGSM folds text to the GSM-7 alphabet: accents it lacks are dropped
// (á → a, but é and ñ stay), typographic quotes and dashes become plain
// ones, and anything else outside it becomes a space.
func ToGSM(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case strings.ContainsRune(gsm7, r) || strings.ContainsRune(gsm7Ext, r):
			b.WriteRune(r)
		case r == '‘' || r == '’' || r == '`' || r == '´':
			b.WriteByte('\'')
		case r == '“' || r == '”':
			b.WriteByte('"')
		case r == '–' || r == '—':
			b.WriteByte('-')
		case r == '\t':
			b.WriteByte(' ')
		default:
			folded, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), string(r))
			if err == nil && folded != "" && strings.ContainsRune(gsm7, []rune(folded)[0]) {
				b.WriteString(folded)
			} else {
				b.WriteByte(' ')
			}
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// MaxSegments is the most segments a text the program writes may take
// (306 GSM-7 characters): a longer one costs more and arrives in pieces.
const MaxSegments = 2
