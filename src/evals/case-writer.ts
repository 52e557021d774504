import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseDocument, YAMLSeq } from 'yaml';
import { parseCaseFile } from './case.loader.js';
import type { EvalCase } from './case.schema.js';

type NewCase = Omit<Partial<EvalCase>, 'id' | 'expect' | 'transcript'> & Pick<EvalCase, 'id' | 'expect' | 'transcript'>;

/**
 * Adds one case to a case file, creating the file for the agent if it does not exist, keeping the
 * comments of one that does. The result is validated before it is written: a duplicate id or a
 * file of another agent is refused with the loader's error, and the file is left as it was.
 */
export function appendCase(path: string, agentId: string, c: NewCase, header: string): void {
  const source = existsSync(path) ? readFileSync(path, 'utf8') : `${header}\nagent: ${agentId}\ncases: []\n`;
  const doc = parseDocument(source);
  if (doc.get('agent') !== agentId) throw new Error(`${path} holds cases of agent "${String(doc.get('agent'))}", not "${agentId}"`);
  let cases = doc.get('cases');
  if (!(cases instanceof YAMLSeq)) {
    cases = new YAMLSeq();
    doc.set('cases', cases);
  }
  (cases as YAMLSeq).flow = false;
  (cases as YAMLSeq).add(doc.createNode(c));
  const text = doc.toString({ lineWidth: 0 });
  parseCaseFile(text, path);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
