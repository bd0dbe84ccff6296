#!/usr/bin/env node
// The installed `shoal` command: the compiled CLI (run `make build` first).
import '../dist/cli/main.js'
