// The keyword rule of plugins/keyword-disposition, in JavaScript, against
// world 0.1.0 (`wit/0.1.0/smstrigger.wit`, world `trigger`): an inbound message
// that is one of the configured keywords -> that keyword's disposition on
// every record in the message's `matches`. Other messages, and delivery
// receipts -> nothing.
//
// Config: `keywords`, comma-separated entries `KEYWORD=ID` or
// `KEYWORD=ID@DELAY`, e.g. `CALLBACK=2@30m, PAID=41, WRONG NUMBER=42`:
// - `KEYWORD` must be the whole message, compared as the Rust SDK's
//   `text::is_keyword` does (case, surrounding space and trailing
//   punctuation ignored); it may hold spaces, not `=` or `,`, and no two
//   entries may share one;
// - `ID` is the disposition to set; `2` (Shared Callback) needs a delay;
// - `DELAY` is a whole number and a unit, `m`, `h` or `d` (24 real hours):
//   the next call date is the message's time plus the delay.
//
// Space around entries and parts is ignored, and so are empty entries. A
// malformed entry fails every inbound event with an error naming it (the
// same messages as the Rust plugin). Unset or empty: no actions, and an
// info line saying so.
//
// How the WIT types look here (componentize-js conventions): records are
// objects with camelCase fields, variants are `{ tag, val }`, enums are
// their case names as strings, `option<T>` is the value or `undefined`,
// `u64`/`s64` are BigInts, `u32` is a number, and the export's
// `result<list<action>, string>` is a returned array or a thrown string.
//
// Built with every WASI feature of componentize-js disabled (`npm run
// build`), the component imports nothing but `smstrigger:plugin/host`: no
// console, clocks or randomness, none of which the rule needs.

import { config, log } from 'smstrigger:plugin/host@0.1.0';

/** The system Shared Callback disposition's id. */
const SHARED_CALLBACK_ID = 2;

/** The largest `s64`: next call dates saturate here, as in Rust. */
const MAX_TIMESTAMP = (1n << 63n) - 1n;

/** White space as Rust's `char::is_whitespace` sees it (Unicode White_Space). */
const SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** ASCII punctuation, as Rust's `char::is_ascii_punctuation`. */
const PUNCTUATION = '!-\\/:-@\\[-`{-~';
const LEADING_SPACE = new RegExp(`^[${SPACE}]+`, 'u');
const TRAILING_SPACE = new RegExp(`[${SPACE}]+$`, 'u');
const TRAILING_PUNCTUATION_OR_SPACE = new RegExp(`[${SPACE}${PUNCTUATION}]+$`, 'u');

/** Rust's `str::trim`. */
function trim(text) {
  return text.replace(LEADING_SPACE, '').replace(TRAILING_SPACE, '');
}

/** The SDK's `text::normalize_keyword`: trimmed, without trailing
 * punctuation, upper-cased. */
function normalizeKeyword(message) {
  return trim(message).replace(TRAILING_PUNCTUATION_OR_SPACE, '').toUpperCase();
}

/** The SDK's `text::is_keyword`. */
function isKeyword(message, keyword) {
  const wanted = normalizeKeyword(keyword);
  return wanted !== '' && normalizeKeyword(message) === wanted;
}

/** Splits at the first `separator`, or `undefined` when there is none. */
function splitOnce(text, separator) {
  const at = text.indexOf(separator);
  return at < 0 ? undefined : [text.slice(0, at), text.slice(at + separator.length)];
}

/** A `u32` written as plain decimal digits (no sign, no space), or `undefined`. */
function number(text) {
  if (!/^[0-9]+$/.test(text)) {
    return undefined;
  }
  const value = Number(text);
  return value <= 0xffff_ffff ? value : undefined;
}

/** `30m`, `2h` or `1d` as seconds. */
function parseDelay(delay) {
  for (const [unit, seconds] of [['m', 60], ['h', 3600], ['d', 86_400]]) {
    if (delay.endsWith(unit)) {
      const count = number(delay.slice(0, -unit.length));
      if (count !== undefined) {
        return BigInt(count) * BigInt(seconds);
      }
    }
  }
  throw `\`${delay}\` is not a delay like 30m, 2h or 1d`;
}

/** One entry as `{ keyword, dispositionId, delaySeconds }`; throws why not. */
function parseEntry(entry) {
  const parts = splitOnce(entry, '=');
  if (parts === undefined) {
    throw 'expected KEYWORD=ID or KEYWORD=ID@DELAY';
  }
  const keyword = normalizeKeyword(parts[0]);
  if (keyword === '') {
    throw 'the keyword is empty';
  }
  const withDelay = splitOnce(parts[1], '@');
  const id = trim(withDelay ? withDelay[0] : parts[1]);
  const delay = withDelay ? trim(withDelay[1]) : undefined;
  const dispositionId = number(id);
  if (dispositionId === undefined) {
    throw `\`${id}\` is not a disposition id`;
  }
  const delaySeconds = delay === undefined ? undefined : parseDelay(delay);
  if (dispositionId === SHARED_CALLBACK_ID && delaySeconds === undefined) {
    throw 'the Shared Callback (id 2) needs a delay, e.g. `@30m`';
  }
  return { keyword, dispositionId, delaySeconds };
}

/** Parses the `keywords` setting; throws an error naming the first bad
 * entry and what is wrong with it. */
export function parseKeywords(setting) {
  const rules = [];
  for (const entry of setting.split(',').map(trim).filter((e) => e !== '')) {
    const bad = (why) => `config \`keywords\`: entry \`${entry}\`: ${why}`;
    let rule;
    try {
      rule = parseEntry(entry);
    } catch (why) {
      throw bad(why);
    }
    if (rules.some((seen) => seen.keyword === rule.keyword)) {
      throw bad('an earlier entry has the same keyword');
    }
    rules.push(rule);
  }
  return rules;
}

/** The disposition for `dispositionId` with an optional next call date. */
function disposition(dispositionId, next) {
  if (dispositionId === SHARED_CALLBACK_ID) {
    if (next === undefined) {
      throw 'the Shared Callback disposition (id 2) needs a next call date';
    }
    return { tag: 'shared-callback', val: next };
  }
  return { tag: 'custom', val: { id: dispositionId, nextCalldate: next } };
}

/** The world's `on-event`: the rule, with any exception that is not one of
 * its own error messages (a bug) turned into the plugin's error too, since
 * the component has no stderr to report it on. */
export function onEvent(event) {
  try {
    return decide(event);
  } catch (error) {
    throw typeof error === 'string' ? error : `unexpected error: ${error}`;
  }
}

function decide(event) {
  if (event.tag !== 'inbound') {
    return [];
  }
  const sms = event.val;
  const rules = parseKeywords(config('keywords') ?? '');
  if (rules.length === 0) {
    log('info', 'no `keywords` configured: nothing to do');
    return [];
  }
  const rule = rules.find((r) => isKeyword(sms.message, r.keyword));
  if (rule === undefined) {
    return [];
  }
  let next;
  if (rule.delaySeconds !== undefined) {
    next = sms.timestamp + rule.delaySeconds;
    if (next > MAX_TIMESTAMP) {
      next = MAX_TIMESTAMP;
    }
  }
  const note = `customer replied ${rule.keyword}`;
  return sms.matches.map((record) => ({
    recordId: record.id,
    disposition: disposition(rule.dispositionId, next),
    note,
  }));
}
