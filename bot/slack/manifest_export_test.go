package slack

// The tables behind the manifest, for the tests that hold them to the code.
var (
	ManifestWebAPICalls = webAPICalls
	ManifestBotEvents   = botEvents
)
