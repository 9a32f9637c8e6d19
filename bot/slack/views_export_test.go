package slack

// The builders of deployq's views, for the golden tests.
type (
	DeployForm = deployForm
	Home       = home
)

var (
	DeployFormView = deployFormView
	LockFormView   = lockFormView
	HomeBlocks     = homeBlocks
	PreviewText    = previewText
)
