package main

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/secondchancekc/secondchance/hotline"
	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/secondchancekc/secondchance/referral"
	"github.com/secondchancekc/secondchance/search"
)

// hotlineConfig is the hotline.* settings.
type hotlineConfig struct {
	StaffNumbers string `mapstructure:"staff_numbers"`
	Hours        string `mapstructure:"hours"`
	Holidays     string `mapstructure:"holidays"`
	DialTimeout  int    `mapstructure:"dial_timeout"`
	VoiceEN      string `mapstructure:"voice_en"`
	VoiceES      string `mapstructure:"voice_es"`
}

func (c *Config) validateHotline() error {
	h := &c.Hotline
	if _, err := c.staffNumbers(); err != nil {
		return err
	}
	if _, err := hotline.ParseHours(h.Hours, "", c.location()); err != nil {
		return badSetting("hotline.hours", h.Hours, err.Error())
	}
	if _, err := hotline.ParseHours("", h.Holidays, c.location()); err != nil {
		return badSetting("hotline.holidays", h.Holidays, err.Error())
	}
	if h.DialTimeout < 5 || h.DialTimeout > 600 {
		return badSetting("hotline.dial_timeout", strconv.Itoa(h.DialTimeout), "expected seconds from 5 to 600")
	}
	for key, v := range map[string]string{"hotline.voice_en": h.VoiceEN, "hotline.voice_es": h.VoiceES} {
		if strings.ContainsAny(v, " <>\"&") {
			return badSetting(key, v, "expected a Twilio voice name such as Polly.Joanna, or empty for Twilio's default")
		}
	}
	return nil
}

func (c *Config) staffNumbers() ([]string, error) {
	var out []string
	for n := range strings.SplitSeq(c.Hotline.StaffNumbers, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !hotline.IsE164(n) {
			return nil, badSetting("hotline.staff_numbers", c.Hotline.StaffNumbers, "expected E.164 numbers separated by commas, e.g. +18165550101,+18165550102")
		}
		out = append(out, n)
	}
	return out, nil
}

// hotlineRadius is how far, in miles, the hotline looks first around a
// caller's ZIP code.
const hotlineRadius = "10"

// hotlineFinder adapts the search engine to the hotline: a need's
// services, or words, near a ZIP code.
type hotlineFinder struct{ eng *search.Engine }

var _ hotline.Finder = hotlineFinder{}

func (f hotlineFinder) Find(ctx context.Context, q hotline.FindQuery) ([]hotline.Place, error) {
	p := search.Params{Text: q.Text, ZIP: q.ZIP, PerPage: strconv.Itoa(max(1, min(q.Limit, 20)))}
	if q.Text == "" && q.Need != "" && q.Need != referral.NeedOther {
		p.Categories = []string{q.Need}
	}
	// A caller with a ZIP code hears places within reach first (most have
	// no car): within hotlineRadius miles, and the whole area only when
	// that finds fewer than the caller will hear.
	var res *search.Response
	for _, radius := range []string{hotlineRadius, ""} {
		if q.ZIP == "" && radius != "" {
			continue
		}
		p.Radius = radius
		sq, err := search.ParseQuery(p)
		if err != nil {
			return nil, err // an unknown ZIP code is EINVALID
		}
		if res, err = f.eng.Answer(ctx, sq, q.Channel); err != nil {
			return nil, err
		}
		if len(res.Results) >= min(3, max(1, q.Limit)) {
			break
		}
	}
	out := make([]hotline.Place, 0, len(res.Results))
	for _, c := range res.Results {
		pl := hotline.Place{ServiceID: c.ID, Name: c.Name, NameES: c.NameES, Summary: c.Summary, SummaryES: c.SummaryES,
			HoursKnown: c.HoursKnown, NextOpen: c.NextOpen}
		if len(c.Phones) > 0 {
			pl.Phone = c.Phones[0].Number
			if c.Phones[0].Extension != "" {
				pl.Phone += " x" + c.Phones[0].Extension
			}
		}
		if c.Address != nil {
			pl.Address, pl.City = c.Address.Address1, c.Address.City
		}
		if c.DistanceMiles != nil {
			pl.Miles, pl.HasMiles = *c.DistanceMiles, true
		}
		if c.OpenNow != nil {
			pl.OpenNow = *c.OpenNow
		}
		out = append(out, pl)
	}
	return out, nil
}

// hotlineReferrals adapts the referral log to the hotline.
type hotlineReferrals struct{ s *referral.Store }

var _ hotline.Referrals = hotlineReferrals{}

func (r hotlineReferrals) LogReferral(ctx context.Context, n hotline.NewReferral) (hotline.ReferralWrite, error) {
	write, err := r.s.PrepareReferral(ctx, referral.NewReferral{
		Client:  referral.Client{Phone: n.Phone, Language: n.Language},
		Channel: n.Channel, NeedCategory: n.Need, ZIP: n.ZIP, ServiceIDs: n.ServiceIDs,
		CreatedBy: referral.SystemActorPrefix + n.Channel, IdempotencyKey: n.Key,
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *sql.Tx) (string, error) {
		ref, _, err := write(ctx, tx)
		if err != nil {
			return "", err
		}
		return ref.ID, nil
	}, nil
}

func (r hotlineReferrals) Consent(ctx context.Context, referralID string, given bool, words, channel string) (func(context.Context, *sql.Tx) error, error) {
	if referralID == "" {
		return func(context.Context, *sql.Tx) error { return nil }, nil
	}
	return r.s.PrepareConsent(referralID, referral.Consent{Given: given, Channel: channel, Words: words},
		referral.SystemActorPrefix+channel)
}

func (r hotlineReferrals) Callback(ctx context.Context, c hotline.CallbackRequest) error {
	_, err := r.s.RequestCall(ctx, referral.CallRequest{ReferralID: c.ReferralID, Phone: c.Phone, Language: c.Language,
		Channel: c.Channel, Need: c.Need, ZIP: c.ZIP, Reason: c.Reason, Key: c.Key, Actor: referral.SystemActorPrefix + c.Channel})
	return err
}

// registerHotline mounts the voice menu and the SMS webhook (STOP/START,
// follow-up replies, then the SMS search), all behind Twilio's signature.
func (a *app) registerHotline(e *echo.Echo, d *db.DB, eng *search.Engine, refs *referral.Store, sms *hotline.Logged) error {
	cfg := a.cfg
	if !cfg.Twilio.ValidateSignatures {
		a.log.Warn("TWILIO SIGNATURE CHECKING IS OFF (twilio.validate_signatures=false): anyone can post to /hotline as if they were Twilio; use this only for local development")
	}
	sig := hotline.Signature{AuthToken: cfg.Twilio.AuthToken, BaseURL: cfg.BaseURL, Disabled: !cfg.Twilio.ValidateSignatures, Log: a.log}.Middleware()
	hours, err := hotline.ParseHours(cfg.Hotline.Hours, cfg.Hotline.Holidays, cfg.location())
	if err != nil {
		return fmt.Errorf("hotline hours: %w", err)
	}
	staff, err := cfg.staffNumbers()
	if err != nil {
		return err
	}
	finder, referrals := hotlineFinder{eng}, hotlineReferrals{refs}
	conv := &hotline.Conversations{DB: d, Finder: finder, Referrals: referrals, Crisis: eng.Crisis, Log: a.log}
	inbound := &hotline.SMS{DB: d, OptOuts: sms.OptOuts, Replies: refs, Clients: clientOptOuts{refs}, Conversation: conv, Log: a.log}
	inbound.Register(e, sig)
	voice := &hotline.Voice{DB: d, Finder: finder, Referrals: referrals, Crisis: eng.Crisis, Sender: sms, Conversations: conv, Hours: hours,
		StaffNumbers: staff, DialTimeout: cfg.Hotline.DialTimeout, VoiceEN: cfg.Hotline.VoiceEN, VoiceES: cfg.Hotline.VoiceES, Log: a.log}
	voice.Register(e, sig)
	return nil
}
