/**
 * Container names as docker has them: [a-zA-Z0-9][a-zA-Z0-9_.-]*, unique; generated ones are
 * adjective_surname pairs (a short list of our own).
 */
import { randomInt } from 'node:crypto';
import { BerthError } from '../runtime/errors';

const NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** A valid name without docker's optional leading '/', or a BerthError naming the rule. */
export function checkName(name: string): string {
  if (!NAME.test(name) || name.length > 253) {
    throw new BerthError('INVALID_ARGUMENT', `invalid container name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name.startsWith('/') ? name.slice(1) : name;
}

const ADJECTIVES = [
  'amber', 'brave', 'calm', 'dapper', 'eager', 'fond', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nimble',
  'quiet', 'rapid', 'serene', 'steady', 'swift', 'tidy', 'vivid', 'witty', 'zealous', 'bold', 'clever', 'sunny',
];
const NOUNS = [
  'anchor', 'barge', 'buoy', 'cutter', 'dinghy', 'ferry', 'galley', 'harbor', 'jetty', 'keel', 'lagoon', 'marina',
  'mooring', 'pier', 'quay', 'rudder', 'schooner', 'sloop', 'tender', 'wharf', 'yawl', 'dock', 'lantern', 'tide', 'compass',
];

/** A generated name not in `taken`. */
export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; i < 50; i++) {
    const n = `${ADJECTIVES[randomInt(ADJECTIVES.length)]!}_${NOUNS[randomInt(NOUNS.length)]!}`;
    const name = i < 10 ? n : `${n}${randomInt(10)}`;
    if (!taken(name)) return name;
  }
  return `berth_${randomInt(1_000_000_000)}`;
}
