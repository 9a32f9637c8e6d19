package main

// PrintDemo is the demo's introduction, for the tests of its commands.
var PrintDemo = printDemo
