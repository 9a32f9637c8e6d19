package main

// Kinds are the runner kinds of this build, for tests that read configs.
var Kinds = kinds

// PrintDemo is the demo's introduction, for the tests of its commands.
var PrintDemo = printDemo
