package slack

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// What the Slack app of a deployq needs, and nothing more: a test scans
// this package for the slack-go calls it makes and the events it reads,
// and fails when one is missing here or one listed here is not used.

// webAPICall is one way the adapter reaches Slack: the slack-go method it
// calls (package.Type.Method), the Web API method that call makes, and the
// scope Slack asks for it (docs.slack.dev/reference/methods/<method>).
type webAPICall struct {
	Call     string
	Method   string // "" when the call reaches no Web API method
	Scope    string // bot token scope; "" when none is needed
	AppScope string // app-level token scope (Socket Mode)
}

var webAPICalls = []webAPICall{
	{Call: "slack.Client.PostMessageContext", Method: "chat.postMessage", Scope: "chat:write"},
	{Call: "slack.Client.UpdateMessageContext", Method: "chat.update", Scope: "chat:write"},
	{Call: "slack.Client.PostEphemeralContext", Method: "chat.postEphemeral", Scope: "chat:write"},
	{Call: "slack.Client.AuthTestContext", Method: "auth.test"},
	{Call: "slack.Client.GetUserInfoContext", Method: "users.info", Scope: "users:read"},
	// users.info gives a user's email only with users:read.email too.
	{Call: "slack.Client.GetUserByEmailContext", Method: "users.lookupByEmail", Scope: "users:read.email"},
	{Call: "slack.Client.GetUserGroupsContext", Method: "usergroups.list", Scope: "usergroups:read"},
	// Forms and the Home tab need no scope of their own.
	{Call: "slack.Client.OpenViewContext", Method: "views.open"},
	{Call: "slack.Client.UpdateViewContext", Method: "views.update"},
	{Call: "slack.Client.PublishViewContext", Method: "views.publish"},
	{Call: "socketmode.Client.RunContext", Method: "apps.connections.open", AppScope: "connections:write"},
	{Call: "socketmode.Client.Ack"}, // an answer on the socket
}

// botEvent is an event the adapter reads (by the slackevents type it
// decodes to), the subscription that delivers it, and its scope
// (docs.slack.dev/reference/events/<event>).
type botEvent struct {
	Type  string
	Event string
	Scope string
}

var botEvents = []botEvent{
	{Type: "slackevents.AppMentionEvent", Event: "app_mention", Scope: "app_mentions:read"},
	// Messages are read in direct messages only (channel_type im).
	{Type: "slackevents.MessageEvent", Event: "message.im", Scope: "im:history"},
	// The Home tab is shown when it is opened; the event needs no scope.
	{Type: "slackevents.AppHomeOpenedEvent", Event: "app_home_opened"},
}

// The slash command, and the scope any slash command (and shortcut)
// needs.
const (
	slashCommand  = "/deploy"
	commandsScope = "commands"
)

// The global shortcut: it opens the deploy form.
const (
	shortcutName        = "Deploy"
	shortcutDescription = "Deploy an app: choose it, its environment and its ref in a form"
)

// The request URLs of HTTP mode, under base_url (see Handlers).
const (
	eventsPath      = "/slack/events"
	commandsPath    = "/slack/commands"
	interactivePath = "/slack/interactive"
)

// BotScopes returns the bot token scopes deployq needs, sorted.
func BotScopes() []string {
	scopes := []string{commandsScope}
	for _, c := range webAPICalls {
		if c.Scope != "" {
			scopes = append(scopes, c.Scope)
		}
	}
	for _, e := range botEvents {
		if e.Scope != "" {
			scopes = append(scopes, e.Scope)
		}
	}
	slices.Sort(scopes)
	return slices.Compact(scopes)
}

// ManifestOptions says which deployq a Slack app manifest is for.
type ManifestOptions struct {
	Name    string // the app's and its bot's name; default deployq
	Mode    string // socket (default) or http
	BaseURL string // deployq's URL: http mode's request URLs are under it
}

// Manifest returns a Slack app manifest (YAML) for a deployq: its bot
// scopes, the /deploy command, the Deploy shortcut, the app_mention,
// message.im and app_home_opened events, buttons and forms
// (interactivity), the Home tab and direct messages to the bot; Socket
// Mode, or in http mode the request URLs under o.BaseURL.
func Manifest(o ManifestOptions) ([]byte, error) {
	if o.Name == "" {
		o.Name = "deployq"
	}
	if n := len([]rune(o.Name)); n > 35 || strings.TrimSpace(o.Name) == "" {
		return nil, fmt.Errorf("name: Slack takes 1 to 35 characters, got %q", o.Name)
	}
	m := manifest{
		Display: display{Name: o.Name, Description: "Deploys from Slack: /deploy, @" + o.Name + " or a direct message."},
		Features: features{
			AppHome:   appHome{HomeTab: true, MessagesTab: true},
			BotUser:   botUser{DisplayName: o.Name, AlwaysOnline: true},
			Shortcuts: []shortcut{{Name: shortcutName, Type: "global", CallbackID: CallbackDeploy, Description: shortcutDescription}},
			Slash: []slash{{Command: slashCommand, Description: "Deploy, roll back, lock and see the queue",
				UsageHint: "web to production | lock production: reason | queue"}},
		},
		OAuth:    oauth{Scopes: scopes{Bot: BotScopes()}},
		Settings: settings{Interactivity: interactivity{Enabled: true}},
	}
	m.Metadata.Major, m.Metadata.Minor = 1, 1
	for _, e := range botEvents {
		m.Settings.Events.BotEvents = append(m.Settings.Events.BotEvents, e.Event)
	}
	switch o.Mode {
	case "", "socket":
		m.Settings.SocketMode = true
	case "http":
		base, err := requestBase(o.BaseURL)
		if err != nil {
			return nil, err
		}
		m.Features.Slash[0].URL = base + commandsPath
		m.Settings.Events.RequestURL = base + eventsPath
		m.Settings.Interactivity.RequestURL = base + interactivePath
		m.Settings.Interactivity.OptionsURL = base + interactivePath
	default:
		return nil, fmt.Errorf("slack.mode: want socket or http, got %q", o.Mode)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// requestBase checks deployq's base URL for Slack's request URLs.
func requestBase(base string) (string, error) {
	u, err := url.Parse(base)
	if base == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("slack.mode http: server.base_url must be the URL Slack reaches deployq at, got %q", base)
	}
	return strings.TrimRight(base, "/"), nil
}

// The manifest's shape (docs.slack.dev/reference/app-manifest), in the
// order Slack shows it.
type manifest struct {
	Metadata struct {
		Major int `yaml:"major_version"`
		Minor int `yaml:"minor_version"`
	} `yaml:"_metadata"`
	Display  display  `yaml:"display_information"`
	Features features `yaml:"features"`
	OAuth    oauth    `yaml:"oauth_config"`
	Settings settings `yaml:"settings"`
}

type display struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

type features struct {
	AppHome   appHome    `yaml:"app_home"`
	BotUser   botUser    `yaml:"bot_user"`
	Shortcuts []shortcut `yaml:"shortcuts"`
	Slash     []slash    `yaml:"slash_commands"`
}

// shortcut is a shortcut of the app; a global one is in Slack's
// shortcuts menu, anywhere.
type shortcut struct {
	Name        string `yaml:"name"`
	Type        string `yaml:"type"`
	CallbackID  string `yaml:"callback_id"`
	Description string `yaml:"description"`
}

// appHome shows the Home tab, and lets people write to the bot in its
// Messages tab.
type appHome struct {
	HomeTab      bool `yaml:"home_tab_enabled"`
	MessagesTab  bool `yaml:"messages_tab_enabled"`
	MessagesRead bool `yaml:"messages_tab_read_only_enabled"`
}

type botUser struct {
	DisplayName  string `yaml:"display_name"`
	AlwaysOnline bool   `yaml:"always_online"`
}

type slash struct {
	Command     string `yaml:"command"`
	URL         string `yaml:"url,omitempty"`
	Description string `yaml:"description"`
	UsageHint   string `yaml:"usage_hint"`
	// ShouldEscape stays false: deployq reads the text as typed.
	ShouldEscape bool `yaml:"should_escape"`
}

type oauth struct {
	Scopes scopes `yaml:"scopes"`
}

type scopes struct {
	Bot []string `yaml:"bot"`
}

type settings struct {
	Events        events        `yaml:"event_subscriptions"`
	Interactivity interactivity `yaml:"interactivity"`
	OrgDeploy     bool          `yaml:"org_deploy_enabled"`
	SocketMode    bool          `yaml:"socket_mode_enabled"`
	TokenRotation bool          `yaml:"token_rotation_enabled"`
}

type events struct {
	RequestURL string   `yaml:"request_url,omitempty"`
	BotEvents  []string `yaml:"bot_events"`
}

type interactivity struct {
	Enabled    bool   `yaml:"is_enabled"`
	RequestURL string `yaml:"request_url,omitempty"`
	// OptionsURL is where the options of a select fed by deployq (a
	// deploy form's ref) are asked for.
	OptionsURL string `yaml:"message_menu_options_url,omitempty"`
}
