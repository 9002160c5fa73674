#!/usr/bin/env node
import { checkRepo, format } from "./check.js";

// check-boundaries [root]: exit 1 and list every violation of DESIGN.md's import boundaries.
const root = process.argv[2] ?? ".";
const report = checkRepo(root);
if (report.files === 0 || report.workspaces.length === 0) {
  console.error(`check-boundaries: found no workspaces or files under ${root}`);
  process.exit(2);
}
if (report.violations.length > 0) {
  console.error(format(report.violations));
  console.error(`check-boundaries: ${report.violations.length} violation(s) in ${report.files} files of ${report.workspaces.length} workspaces`);
  process.exit(1);
}
console.log(`check-boundaries: ${report.files} files in ${report.workspaces.length} workspaces keep DESIGN.md's boundaries`);
