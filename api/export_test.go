package api

// AppendEventForTest exposes appendEvent to the external tests.
var AppendEventForTest = appendEvent
