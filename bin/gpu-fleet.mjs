#!/usr/bin/env node
// The gpu-fleet command. The CLI is TypeScript run as is (no build step): register tsx's loader, then
// hand over to cli/main.ts, which parses the command line and returns the exit code.
import "tsx";

// cli/main.ts is a CommonJS module (the package has no "type": "module"): its exports arrive as default.
const cli = await import("../cli/main.ts");
process.exitCode = await (cli.main ?? cli.default.main)(process.argv.slice(2));
