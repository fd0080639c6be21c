package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/secondchancekc/secondchance/hotline"
	"github.com/secondchancekc/secondchance/referral"
)

// Config is every setting, from (highest first) flags, SECONDCHANCE_*
// environment variables, the config file, and the defaults below.
type Config struct {
	Listen    string `mapstructure:"listen"`
	DataDir   string `mapstructure:"data_dir"`
	Timezone  string `mapstructure:"timezone"`
	BaseURL   string `mapstructure:"base_url"`
	DemoData  bool   `mapstructure:"demo_data"`
	LogLevel  string `mapstructure:"log_level"`
	LogFormat string `mapstructure:"log_format"`
	Search    struct {
		SynonymsFile string `mapstructure:"synonyms_file"`
	} `mapstructure:"search"`
	Twilio struct {
		AccountSID          string `mapstructure:"account_sid"`
		AuthToken           string `mapstructure:"auth_token"`
		FromNumber          string `mapstructure:"from_number"`
		MessagingServiceSID string `mapstructure:"messaging_service_sid"`
		APIBaseURL          string `mapstructure:"api_base_url"`
		ValidateSignatures  bool   `mapstructure:"validate_signatures"`
	} `mapstructure:"twilio"`
	Hotline  hotlineConfig `mapstructure:"hotline"`
	Followup struct {
		Steps     string  `mapstructure:"steps"`
		NeedSteps string  `mapstructure:"need_steps"`
		Window    string  `mapstructure:"window"`
		PerSecond float64 `mapstructure:"per_second"`
		DailyCap  int     `mapstructure:"daily_cap"`
		Run       bool    `mapstructure:"run"`
		// ReverifyAfter: listing problems before a service is flagged.
		ReverifyAfter int `mapstructure:"reverify_after"`
	} `mapstructure:"followup"`
	Directory struct {
		// VerifyAfter: months before a listing is due for verification.
		VerifyAfter int `mapstructure:"verify_after"`
		// UnverifiedAfter: months after which the public sees it as unverified.
		UnverifiedAfter int `mapstructure:"unverified_after"`
	} `mapstructure:"directory"`
	Reports struct {
		SavingsPerPersonYear float64 `mapstructure:"savings_per_person_year"`
		OperatingCost        float64 `mapstructure:"operating_cost"`
	} `mapstructure:"reports"`
}

// defaultConfigFile is read from the working folder when --config is not
// given.
const defaultConfigFile = "secondchance.yaml"

// setting documents one key; the README table is checked against this list
// by a test.
type setting struct {
	Key     string
	Default any
	Meaning string
	Choices []string // accepted values, when there is a fixed set
}

var settings = []setting{
	{"listen", "127.0.0.1:8080", "Address and port the web server listens on (host:port).", nil},
	{"data_dir", "./var", "Folder for the SQLite database (secondchance.db) and, later, the search index.", nil},
	{"timezone", "America/Chicago", "IANA time zone used to show times and compute office hours.", nil},
	{"base_url", "http://localhost:8080", "The public URL people and Twilio reach the service at; webhook signatures are checked against it.", nil},
	{"demo_data", true, "Load the embedded demo directory into an empty database at start.", []string{"true", "false"}},
	{"log_level", "info", "Least severe log level written.", []string{"debug", "info", "warn", "error"}},
	{"log_format", "text", "Log line format on standard error.", []string{"text", "json"}},
	{"search.synonyms_file", "", "Staff-editable search synonyms; empty means data_dir/synonyms.txt when that file exists, else the built-in list (data/search/synonyms.txt).", nil},
	{"twilio.account_sid", "", "Twilio Account SID (AC + 32 hex). Empty, with the other Twilio credentials, means texts go to the local outbox.", nil},
	{"twilio.auth_token", "", "Twilio auth token; prefer the environment variable to the file.", nil},
	{"twilio.from_number", "", "The Twilio number texts come from, in E.164 form (+18165550100); or set twilio.messaging_service_sid.", nil},
	{"twilio.messaging_service_sid", "", "Twilio Messaging Service SID (MG + 32 hex) that picks the sending number; used instead of or with twilio.from_number.", nil},
	{"twilio.api_base_url", "https://api.twilio.com", "Base URL of Twilio's REST API; point it at a proxy or, in tests, a fake.", nil},
	{"followup.steps", "checkin=3,reminder=5,call=7,final=30", "Follow-up schedule in days after a referral: SMS check-in, SMS reminder if no reply, staff call task, final SMS check for those who got help (a step left out is not used).", nil},
	{"followup.need_steps", "", "Per-need schedules overriding followup.steps, e.g. \"housing: checkin=1,reminder=2,call=3,final=30; basic-needs: checkin=2\".", nil},
	{"followup.window", "09:00-20:00", "Hours (in timezone) follow-up texts are sent in; texts due outside wait for the next window.", nil},
	{"followup.per_second", 1, "Follow-up texts sent per second at most.", nil},
	{"followup.daily_cap", 1000, "Follow-up texts sent per day at most; the rest wait for the next day.", nil},
	{"followup.run", true, "Send due follow-ups from inside serve (every minute); turn off to run `secondchance followups run` from cron instead.", []string{"true", "false"}},
	{"followup.reverify_after", 3, "Referrals to a service that come back \"couldn't reach them\" or \"wrong information\" before the service is flagged for re-verification (0 turns flagging off).", nil},
	{"directory.verify_after", 12, "Months after its last verification that a listing is due again and joins the verification queue on /staff/directory.", nil},
	{"directory.unverified_after", 24, "Months after its last verification that the public pages and search results mark a listing as not recently verified.", nil},
	{"reports.savings_per_person_year", 18000, "Dollars one person-year of incarceration avoided saves, for the reports' estimate panel.", nil},
	{"reports.operating_cost", 0, "The program's yearly operating cost in dollars, prorated to the report's range in the estimate panel.", nil},
	{"twilio.validate_signatures", true, "Check the X-Twilio-Signature of Twilio's webhooks; turn off only for local testing.", []string{"true", "false"}},
	{"hotline.staff_numbers", "", "Staff phones the hotline rings at once when a caller asks for a person in business hours (E.164, comma-separated); empty: voicemail only.", nil},
	{"hotline.hours", "mon-fri 09:00-17:00", "When staff answer (in timezone), e.g. \"mon-thu 09:00-17:00, fri 09:00-12:00\"; outside them callers may leave a voicemail.", nil},
	{"hotline.holidays", "", "Dates staff do not answer, e.g. \"2026-11-26, 2026-12-25\".", nil},
	{"hotline.dial_timeout", 20, "Seconds the staff phones ring before the caller is offered voicemail.", nil},
	{"hotline.voice_en", "Polly.Joanna", "Twilio <Say> voice for English (a Polly voice, or man, woman, alice).", nil},
	{"hotline.voice_es", "Polly.Lupe", "Twilio <Say> voice for Spanish.", nil},
}

// configError is a bad setting: the message names the key and what is
// accepted; main exits with status 2.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func badSetting(key, got, want string) error {
	env := "SECONDCHANCE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
	return &configError{fmt.Sprintf("configuration: %s (%s) is %q: %s", key, env, got, want)}
}

// newViper sets defaults and environment binding on a fresh viper.
func newViper() *viper.Viper {
	v := viper.New()
	for _, s := range settings {
		v.SetDefault(s.Key, s.Default)
	}
	v.SetEnvPrefix("SECONDCHANCE")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	return v
}

// loadConfig reads the config file (if any), checks every value and returns
// the typed Config.
func loadConfig(v *viper.Viper, file string) (*Config, error) {
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return nil, &configError{fmt.Sprintf("configuration: cannot read %s: %v", file, err)}
		}
	} else if _, err := os.Stat(defaultConfigFile); err == nil {
		// Named exactly: viper's own search would also pick up a file
		// called plain "secondchance" (the binary itself).
		v.SetConfigFile(defaultConfigFile)
		if err := v.ReadInConfig(); err != nil {
			return nil, &configError{fmt.Sprintf("configuration: cannot read %s: %v", defaultConfigFile, err)}
		}
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[s.Key] = true
	}
	// Unknown keys are mistakes (a typo silently ignored is a setting that
	// silently does not apply).
	for _, k := range v.AllKeys() {
		if !known[k] {
			return nil, &configError{fmt.Sprintf("configuration: unknown key %q in %s; known keys: %s", k, configSource(v), strings.Join(keyList(), ", "))}
		}
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "SECONDCHANCE_") {
			continue
		}
		key := strings.ToLower(strings.TrimPrefix(name, "SECONDCHANCE_"))
		if !slices.ContainsFunc(settings, func(s setting) bool { return strings.ReplaceAll(s.Key, ".", "_") == key }) {
			return nil, &configError{fmt.Sprintf("configuration: unknown environment variable %s; known: %s", name, strings.Join(envList(), ", "))}
		}
	}
	for _, s := range settings {
		raw := strings.TrimSpace(v.GetString(s.Key))
		if len(s.Choices) > 0 {
			if _, isBool := s.Default.(bool); isBool {
				if _, err := strconv.ParseBool(raw); err != nil {
					return nil, badSetting(s.Key, raw, "accepted values are true or false")
				}
			} else if !slices.Contains(s.Choices, raw) {
				return nil, badSetting(s.Key, raw, "accepted values are "+strings.Join(s.Choices, ", "))
			}
		}
	}
	var c Config
	if err := v.Unmarshal(&c); err != nil {
		return nil, &configError{"configuration: " + err.Error()}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func configSource(v *viper.Viper) string {
	if f := v.ConfigFileUsed(); f != "" {
		return f
	}
	return "the configuration"
}

func keyList() []string {
	var ks []string
	for _, s := range settings {
		ks = append(ks, s.Key)
	}
	return ks
}

func envList() []string {
	var ks []string
	for _, s := range settings {
		ks = append(ks, "SECONDCHANCE_"+strings.ToUpper(strings.ReplaceAll(s.Key, ".", "_")))
	}
	return ks
}

func (c *Config) validate() error {
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		return badSetting("listen", c.Listen, "expected host:port, e.g. 127.0.0.1:8080 or :8080")
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return badSetting("data_dir", c.DataDir, "expected a folder path, e.g. ./var")
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		return badSetting("timezone", c.Timezone, "expected an IANA time zone name, e.g. America/Chicago")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return badSetting("base_url", c.BaseURL, "expected the public http(s) URL without a query, e.g. https://secondchancekc.org")
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if err := c.validateTwilio(); err != nil {
		return err
	}
	if err := c.validateHotline(); err != nil {
		return err
	}
	if _, err := c.followupPolicy(); err != nil {
		return err
	}
	if err := c.validateReports(); err != nil {
		return err
	}
	return c.validateUpkeep()
}

// followupPolicy is the follow-up schedule and sending limits.
func (c *Config) followupPolicy() (referral.Policy, error) {
	p := referral.DefaultPolicy()
	p.Zone = c.location()
	f := &c.Followup
	var err error
	if p.Default, err = referral.ParseSteps(f.Steps); err != nil {
		return p, badSetting("followup.steps", f.Steps, err.Error())
	}
	if p.Needs, err = referral.ParseNeedSteps(f.NeedSteps); err != nil {
		return p, badSetting("followup.need_steps", f.NeedSteps, err.Error())
	}
	if p.WindowStart, p.WindowEnd, err = referral.ParseWindow(f.Window); err != nil {
		return p, badSetting("followup.window", f.Window, err.Error())
	}
	if f.PerSecond <= 0 || f.PerSecond > 100 {
		return p, badSetting("followup.per_second", fmt.Sprint(f.PerSecond), "expected a number above 0 and at most 100")
	}
	p.PerSecond = f.PerSecond
	if f.DailyCap < 1 {
		return p, badSetting("followup.daily_cap", fmt.Sprint(f.DailyCap), "expected a whole number of at least 1")
	}
	p.DailyCap = f.DailyCap
	return p, p.Validate()
}

// validateTwilio checks the twilio.* settings: each in its own form, and
// either all credentials (SID, token, and a sender) or none (the outbox).
func (c *Config) validateTwilio() error {
	t := &c.Twilio
	if t.AccountSID != "" && !isTwilioSID("AC", t.AccountSID) {
		return badSetting("twilio.account_sid", t.AccountSID, "expected AC followed by 32 hexadecimal characters, as shown in the Twilio console")
	}
	if t.AuthToken != "" && strings.IndexFunc(t.AuthToken, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) >= 0 {
		// Never echo a secret.
		return &configError{"configuration: twilio.auth_token (SECONDCHANCE_TWILIO_AUTH_TOKEN) is not a Twilio auth token: expected letters and digits only, as shown in the Twilio console"}
	}
	if t.FromNumber != "" && !hotline.IsE164(t.FromNumber) {
		return badSetting("twilio.from_number", t.FromNumber, "expected an E.164 phone number, e.g. +18165550100")
	}
	if t.MessagingServiceSID != "" && !isTwilioSID("MG", t.MessagingServiceSID) {
		return badSetting("twilio.messaging_service_sid", t.MessagingServiceSID, "expected MG followed by 32 hexadecimal characters")
	}
	u, err := url.Parse(t.APIBaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return badSetting("twilio.api_base_url", t.APIBaseURL, "expected an http(s) URL without a query, e.g. https://api.twilio.com")
	}
	if t.AccountSID == "" && t.AuthToken == "" && t.FromNumber == "" && t.MessagingServiceSID == "" {
		return nil // texts go to the local outbox
	}
	const partial = "required once any Twilio credential is set (clear them all to use the local outbox)"
	switch {
	case t.AccountSID == "":
		return badSetting("twilio.account_sid", "", partial)
	case t.AuthToken == "":
		return badSetting("twilio.auth_token", "", partial)
	case t.FromNumber == "" && t.MessagingServiceSID == "":
		return badSetting("twilio.from_number", "", "set it or twilio.messaging_service_sid to send texts through Twilio")
	}
	return nil
}

// isTwilioSID reports whether s is prefix followed by 32 hex digits.
func isTwilioSID(prefix, s string) bool {
	hex := strings.TrimPrefix(s, prefix)
	if len(hex) != 32 || len(s) != 34 {
		return false
	}
	return strings.IndexFunc(hex, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F')
	}) < 0
}

// smsSenderConfig is what hotline.NewSender needs from the settings.
func (c *Config) smsSenderConfig() hotline.SenderConfig {
	return hotline.SenderConfig{
		AccountSID:          c.Twilio.AccountSID,
		AuthToken:           c.Twilio.AuthToken,
		FromNumber:          c.Twilio.FromNumber,
		MessagingServiceSID: c.Twilio.MessagingServiceSID,
		APIBaseURL:          c.Twilio.APIBaseURL,
	}
}

// location is the configured time zone (checked when the settings were
// loaded).
func (c *Config) location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// dbPath is where the database lives.
func (c *Config) dbPath() string { return filepath.Join(c.DataDir, "secondchance.db") }

// indexPath is where the search index lives.
func (c *Config) indexPath() string { return filepath.Join(c.DataDir, "index") }

// synonymsPath is the staff-editable synonym file.
func (c *Config) synonymsPath() string {
	if c.Search.SynonymsFile != "" {
		return c.Search.SynonymsFile
	}
	return filepath.Join(c.DataDir, "synonyms.txt")
}
