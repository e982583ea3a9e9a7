// check.js FILE... — each file must be a valid Prometheus text exposition
// (format 0.0.4), read by this parser written from the format's grammar
// (https://prometheus.io/docs/instrumenting/exposition_formats/), and meet
// the project's conventions on top:
//   - every line a comment (# HELP name doc, # TYPE name type, other #),
//     a blank line or a sample: name[{label="value",...}] value [timestamp];
//     label values escape only \\, \" and \n; values are floats, NaN, +Inf, -Inf
//   - a family's HELP and TYPE at most once each, both before its samples,
//     its samples in one group; every family has both; names tdexec_*
//   - every series (name and label set) exactly once
//   - counters end in _total and are >= 0
//   - histograms: _bucket series with le, cumulative (non-decreasing as le
//     grows), an le="+Inf" bucket equal to _count, and a _sum
// Exits 1 listing every problem.
"use strict";
const fs = require("fs");

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(s) {
	if (s === "NaN") return NaN;
	if (s === "+Inf" || s === "Inf") return Infinity;
	if (s === "-Inf") return -Infinity;
	if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined;
	return Number(s);
}

// name{labels} value [ts] -> {name, labels: [[k, v]...], value} or an error string
function parseSample(line) {
	let i = 0;
	const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
	if (!m) return "no metric name";
	const name = m[0];
	i = name.length;
	const labels = [];
	if (line[i] === "{") {
		i++;
		for (;;) {
			if (line[i] === "}") { i++; break; }
			const lm = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
			if (!lm) return `bad label name at column ${i}`;
			i += lm[0].length;
			if (line[i] !== "=" || line[i + 1] !== '"') return `label ${lm[0]}: no ="`;
			i += 2;
			let v = "";
			for (;;) {
				if (i >= line.length) return `label ${lm[0]}: unterminated value`;
				const c = line[i++];
				if (c === '"') break;
				if (c === "\\") {
					const e = line[i++];
					if (e === "\\") v += "\\";
					else if (e === '"') v += '"';
					else if (e === "n") v += "\n";
					else return `label ${lm[0]}: bad escape \\${e}`;
				} else v += c;
			}
			labels.push([lm[0], v]);
			if (line[i] === ",") { i++; continue; }
			if (line[i] === "}") { i++; break; }
			return `label ${lm[0]}: expected , or } at column ${i}`;
		}
	}
	if (line[i] !== " ") return "no space before the value";
	const rest = line.slice(i + 1).split(" ");
	if (rest.length < 1 || rest.length > 2) return "expected a value and an optional timestamp";
	const value = parseValue(rest[0]);
	if (value === undefined) return `bad value '${rest[0]}'`;
	if (rest.length === 2 && !/^-?\d+$/.test(rest[1])) return `bad timestamp '${rest[1]}'`;
	return { name, labels, value };
}

function familyOf(name, types) {
	for (const suf of ["_bucket", "_sum", "_count"]) {
		if (name.endsWith(suf)) {
			const base = name.slice(0, -suf.length);
			if (types.get(base) === "histogram" || types.get(base) === "summary") return base;
		}
	}
	return name;
}

function check(text) {
	const errs = [];
	const types = new Map(), helps = new Map(), seen = new Set(), done = new Set();
	const samples = [];
	let current = null;
	if (text.length && !text.endsWith("\n")) errs.push("the text does not end with a newline");
	text.split("\n").forEach((line, n) => {
		const at = `line ${n + 1}`;
		if (line === "") return;
		if (line.startsWith("#")) {
			const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
			if (!m) return; // a plain comment
			const [, kw, name, rest] = m;
			if (!NAME.test(name)) errs.push(`${at}: bad metric name '${name}'`);
			if (done.has(name) || (current !== name && samples.some((s) => s.family === name)))
				errs.push(`${at}: ${kw} for ${name} after its samples`);
			if (kw === "HELP") {
				if (helps.has(name)) errs.push(`${at}: second HELP for ${name}`);
				if (/\\[^\\n]/.test((rest || "").replace(/\\\\/g, "")))
					errs.push(`${at}: HELP of ${name}: bad escape`);
				helps.set(name, rest || "");
			} else {
				if (types.has(name)) errs.push(`${at}: second TYPE for ${name}`);
				if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest))
					errs.push(`${at}: TYPE of ${name}: '${rest}'`);
				types.set(name, rest);
			}
			if (current && current !== name) done.add(current);
			current = name;
			return;
		}
		const s = parseSample(line);
		if (typeof s === "string") { errs.push(`${at}: ${s}: ${line}`); return; }
		s.family = familyOf(s.name, types);
		if (current !== s.family) {
			if (current) done.add(current);
			if (done.has(s.family)) errs.push(`${at}: samples of ${s.family} are not in one group`);
			current = s.family;
		}
		const names = s.labels.map(([k]) => k);
		if (new Set(names).size !== names.length) errs.push(`${at}: a label twice: ${line}`);
		const key = s.name + "{" + s.labels.slice().sort((a, b) => (a[0] < b[0] ? -1 : 1))
			.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",") + "}";
		if (seen.has(key)) errs.push(`${at}: duplicate series ${key}`);
		seen.add(key);
		s.key = key;
		samples.push(s);
	});
	const families = new Set(samples.map((s) => s.family).concat([...types.keys()]));
	for (const f of families) {
		if (!f.startsWith("tdexec_")) errs.push(`${f}: not a tdexec_ name`);
		if (!types.has(f)) errs.push(`${f}: no TYPE`);
		if (!helps.has(f)) errs.push(`${f}: no HELP`);
		const t = types.get(f);
		const own = samples.filter((s) => s.family === f);
		if (t === "counter") {
			if (!f.endsWith("_total")) errs.push(`${f}: a counter whose name does not end in _total`);
			for (const s of own) if (!(s.value >= 0)) errs.push(`${s.key}: a counter at ${s.value}`);
		}
		if (t !== "counter" && f.endsWith("_total")) errs.push(`${f}: a ${t} named _total`);
		if (t === "histogram") checkHistogram(f, own, errs);
	}
	return { errs, samples };
}

function checkHistogram(f, own, errs) {
	const groups = new Map(); // the labels but le -> {buckets, sum, count}
	for (const s of own) {
		const rest = s.labels.filter(([k]) => k !== "le").map(([k, v]) => `${k}=${v}`).join(",");
		if (!groups.has(rest)) groups.set(rest, { buckets: [], sum: undefined, count: undefined });
		const g = groups.get(rest);
		if (s.name === f + "_bucket") {
			const le = s.labels.find(([k]) => k === "le");
			if (!le) { errs.push(`${s.key}: a bucket without le`); continue; }
			const bound = parseValue(le[1]);
			if (bound === undefined || Number.isNaN(bound)) errs.push(`${s.key}: le '${le[1]}'`);
			g.buckets.push([bound, s.value]);
		} else if (s.name === f + "_sum") g.sum = s.value;
		else if (s.name === f + "_count") g.count = s.value;
		else errs.push(`${s.key}: a histogram sample that is not _bucket, _sum or _count`);
	}
	for (const [rest, g] of groups) {
		const where = `${f}{${rest}}`;
		g.buckets.sort((a, b) => a[0] - b[0]);
		for (let i = 1; i < g.buckets.length; i++) {
			if (g.buckets[i][1] < g.buckets[i - 1][1]) errs.push(`${where}: buckets not cumulative`);
			if (g.buckets[i][0] === g.buckets[i - 1][0]) errs.push(`${where}: le ${g.buckets[i][0]} twice`);
		}
		const inf = g.buckets.find(([b]) => b === Infinity);
		if (!inf) errs.push(`${where}: no le="+Inf" bucket`);
		if (g.count === undefined) errs.push(`${where}: no _count`);
		if (g.sum === undefined) errs.push(`${where}: no _sum`);
		if (inf && g.count !== undefined && inf[1] !== g.count)
			errs.push(`${where}: +Inf bucket ${inf[1]} != _count ${g.count}`);
	}
}

module.exports = { check, parseSample };

if (require.main === module) {
	let bad = 0;
	for (const file of process.argv.slice(2)) {
		const { errs, samples } = check(fs.readFileSync(file, "utf8"));
		if (errs.length) {
			bad++;
			console.log(`${file}: ${errs.length} problem(s)`);
			for (const e of errs.slice(0, 40)) console.log("  " + e);
		} else {
			console.log(`${file}: ok, ${samples.length} samples`);
		}
	}
	process.exit(bad ? 1 : 0);
}
