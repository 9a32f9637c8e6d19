package github

// The table behind the App's permissions, for the test that holds it to
// the code.
var ManifestAPICalls = apiCalls
