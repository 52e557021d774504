import { readFileSync } from 'node:fs';
import { glob } from 'tinyglobby';
import { shownPath } from '../common/paths.js';
import { ConfigError } from '../config/config.error.js';
import { describeIssue, lineOf, parseYamlSource, type YamlSource } from '../config/yaml-source.js';
import { CaseFileSchema, type CaseFile, type EvalCase } from './case.schema.js';

/** A case with where it came from, so a report can point at it. */
export interface LoadedCase extends EvalCase {
  file: string;
  line: number;
  agentId: string;
  language?: string;
  /** Lines of the fields checked against the agents file (`actions.order_status`, `expect.calls`…), for their problems. */
  fieldLines?: Record<string, number>;
  /** The actions `actions` answers from the file's fixtures, the case having none of its own: their problems are the file's. */
  fileFixtures?: string[];
}

export interface LoadedCaseFile extends CaseFile {
  file: string;
  cases: LoadedCase[];
  /** Lines of the file's own fixtures (`actions.order_status`), for their problems. */
  fieldLines?: Record<string, number>;
}

/** Reads and validates one case file; every problem names the file, the line, the case and the field. */
export function loadCaseFile(path: string): LoadedCaseFile {
  const name = shownPath(path);
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`case file ${name} cannot be read: ${(err as Error).message}`]);
  }
  return parseCaseFile(source, name);
}

export function parseCaseFile(source: string, name: string): LoadedCaseFile {
  const src = parseYamlSource(source, name);
  const result = CaseFileSchema.safeParse(src.raw);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, src, { key: 'cases', noun: 'case' })));
  const file = result.data;
  return {
    ...file,
    file: name,
    fieldLines: Object.fromEntries(Object.keys(file.actions ?? {}).map((action) => [`actions.${action}`, lineOf(src, ['actions', action])])),
    cases: file.cases.map((c, i) => ({
      ...c,
      ...withFileFixtures(c, file),
      language: c.language ?? file.language,
      file: name,
      line: lineOf(src, ['cases', i]),
      agentId: file.agent,
      fieldLines: actionFieldLines(src, i, c),
    })),
  };
}

/** The file's fixtures under the case's own: per action, a case that declares any answers with its own only. */
function withFileFixtures(c: EvalCase, file: CaseFile): Pick<LoadedCase, 'actions' | 'fileFixtures'> {
  const inherited = Object.keys(file.actions ?? {}).filter((action) => !Object.hasOwn(c.actions ?? {}, action));
  if (!inherited.length) return {};
  return { actions: { ...Object.fromEntries(inherited.map((action) => [action, file.actions![action]])), ...c.actions }, fileFixtures: inherited };
}

/** Where the action names of a case are written: each fixture, `expect.calls` and each `expect.callArgs` entry. */
function actionFieldLines(src: YamlSource, i: number, c: EvalCase): Record<string, number> {
  const paths = [
    ...Object.keys(c.actions ?? {}).map((name) => ['actions', name]),
    ...(c.expect.calls ? [['expect', 'calls']] : []),
    ...Object.keys(c.expect.callArgs ?? {}).map((name) => ['expect', 'callArgs', name]),
  ];
  return Object.fromEntries(paths.map((path) => [path.join('.'), lineOf(src, ['cases', i, ...path])]));
}

/** Every case file the patterns match, sorted, validated; all their problems together. */
export async function loadCaseFiles(patterns: string[]): Promise<LoadedCaseFile[]> {
  const paths = (await glob(patterns, { absolute: true, onlyFiles: true })).sort();
  const files: LoadedCaseFile[] = [];
  const problems: string[] = [];
  for (const path of paths) {
    try {
      files.push(loadCaseFile(path));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  }
  // Runs, flaky cases and --compare know a case by agent and id: the same pair in two files would merge.
  const seen = new Map<string, LoadedCase>();
  for (const c of files.flatMap((f) => f.cases)) {
    const key = `${c.agentId}/${c.id}`;
    const first = seen.get(key);
    if (first) problems.push(`${c.file}:${c.line}: case "${c.id}": agent ${c.agentId} already has a case with this id, at ${first.file}:${first.line}`);
    else seen.set(key, c);
  }
  if (problems.length) throw new ConfigError(problems);
  return files;
}
