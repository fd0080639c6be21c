package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"golang.org/x/crypto/argon2"
)

// Password rules.
const (
	MinPasswordLength = 12
	// MaxPasswordLength bounds the work one sign-in attempt can ask for.
	MaxPasswordLength = 256
)

// argonParams is the argon2id cost, stored in every hash (PHC string format)
// so that the cost can rise later without breaking old hashes.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	saltLen int
	keyLen  uint32
}

// defaultArgon is OWASP's minimum recommendation for argon2id (19 MiB, 2
// passes, 1 lane): tens of milliseconds per sign-in on a small server.
var defaultArgon = argonParams{memory: 19 * 1024, time: 2, threads: 1, saltLen: 16, keyLen: 32}

// hashPassword returns the PHC string
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>.
func hashPassword(p argonParams, password string) (string, error) {
	salt := make([]byte, p.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, p.keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("stored password hash is not an argon2id PHC string")

// verifyPassword reports whether password matches the PHC string encoded.
func verifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var p argonParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return false, errBadHash
	}
	// Refuse absurd costs: a tampered row must not let anyone exhaust memory.
	if p.memory == 0 || p.memory > 1<<20 || p.time == 0 || p.time > 16 || p.threads == 0 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// hashNew hashes a new password at the service's cost, holding a hashing slot.
func (s *Service) hashNew(ctx context.Context, password string) (string, error) {
	if err := s.acquireHashSlot(ctx); err != nil {
		return "", err
	}
	defer s.releaseHashSlot()
	return hashPassword(s.hash, password)
}

// verify checks password against encoded, holding a hashing slot. An empty
// encoded (no password set) is checked against the dummy hash so that it
// costs the same, and never matches.
func (s *Service) verify(ctx context.Context, encoded, password string) (bool, error) {
	if err := s.acquireHashSlot(ctx); err != nil {
		return false, err
	}
	defer s.releaseHashSlot()
	if len(password) > MaxPasswordLength*4 {
		password = password[:MaxPasswordLength*4]
	}
	if encoded == "" {
		dummy, err := s.dummy()
		if err != nil {
			return false, err
		}
		_, err = verifyPassword(dummy, password)
		return false, err
	}
	return verifyPassword(encoded, password)
}

func (s *Service) acquireHashSlot(ctx context.Context) error {
	select {
	case s.hashSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) releaseHashSlot() { <-s.hashSlots }

// commonPasswords are refused outright: the most guessed passwords of 12
// characters or more, and the names of this program. Compared lowercased.
var commonPasswords = map[string]bool{
	"123456789012": true, "1234567890123": true, "12345678901234": true, "123456123456": true,
	"password1234": true, "password12345": true, "password123!": true, "passwordpassword": true,
	"password1!": true, "qwertyuiop12": true, "qwertyuiop123": true, "qwerty123456": true,
	"1q2w3e4r5t6y": true, "1qaz2wsx3edc": true, "iloveyou1234": true, "letmein12345": true,
	"welcome12345": true, "welcome123!": true, "changeme1234": true, "administrator": true,
	"abcdefghijkl": true, "abc123abc123": true, "aaaaaaaaaaaa": true, "000000000000": true,
	"111111111111": true, "football1234": true, "baseball1234": true, "monkey123456": true,
	"secondchance": true, "secondchancekc": true, "secondchance1": true, "secondchance123": true,
	"kansascity123": true, "kansascitymo": true, "chiefs123456": true, "kansascitychiefs": true,
	"royals123456": true, "reentry12345": true, "staffpassword": true,
}

// checkPassword applies the password rules: 12 to 256 characters, not the
// email address (or its name part), not a well-known password, and not one
// character repeated.
func checkPassword(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLength:
		return apperr.Errorf(apperr.EINVALID, "The password must be at least %d characters long. A few unrelated words make a strong one that is easy to remember.", MinPasswordLength)
	case n > MaxPasswordLength:
		return apperr.Errorf(apperr.EINVALID, "The password must be at most %d characters long.", MaxPasswordLength)
	case !utf8.ValidString(password):
		return apperr.Errorf(apperr.EINVALID, "The password contains characters that cannot be used.")
	}
	low := strings.ToLower(password)
	email = strings.ToLower(strings.TrimSpace(email))
	local, _, _ := strings.Cut(email, "@")
	if email != "" && (low == email || (len(local) >= 4 && strings.Contains(low, local) && len(low)-len(local) < 4)) {
		return apperr.Errorf(apperr.EINVALID, "The password must not be your email address.")
	}
	if commonPasswords[low] || oneCharRepeated(low) {
		return apperr.Errorf(apperr.EINVALID, "That password is too common and easy to guess. Please choose another.")
	}
	return nil
}

func oneCharRepeated(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	for _, r := range s {
		if r != first {
			return false
		}
	}
	return true
}

// randomToken returns 32 random bytes, base64url: a session token, CSRF
// token or link token.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand aborts the program if it cannot read)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenLen is the length of randomToken's output.
const tokenLen = 43

func validToken(t string) bool {
	if len(t) != tokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
