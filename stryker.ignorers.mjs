// Stryker ignorers for `npm run test:mutation` (docs/mutation-testing.md): code whose mutants no test should pin.
//  - log calls (log.info/warn/error/debug, this.opts.log.…): what is logged is for operators, not behaviour;
//  - the wording of a violation (the message and fix arguments of violation(rule, path, message, fix)): tests pin
//    the rule and the field path of every violation, and that message and fix are there and name the field; pinning
//    every sentence word for word would make each rewording a test change without catching a bug.
// The rule id and the path of a violation, and every condition deciding whether one is reported, stay mutated.
import { PluginKind, declareValuePlugin } from '@stryker-mutator/api/plugin';

const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

/** `log.info(…)`, `this.opts.log.warn(…)`, `opts.log.error(…)`. */
function isLogCall(node) {
  if (node.type !== 'CallExpression' || node.callee.type !== 'MemberExpression') return false;
  const { object, property } = node.callee;
  if (property.type !== 'Identifier' || !LOG_LEVELS.has(property.name)) return false;
  if (object.type === 'Identifier') return object.name === 'log';
  return object.type === 'MemberExpression' && object.property.type === 'Identifier' && object.property.name === 'log';
}

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'LogCalls', {
    shouldIgnore(path) {
      if (path.isExpressionStatement() && isLogCall(path.node.expression)) return 'a log line: not behaviour';
      return undefined;
    },
  }),
  declareValuePlugin(PluginKind.Ignore, 'ViolationWording', {
    shouldIgnore(path) {
      const parent = path.parentPath;
      if (
        parent?.isCallExpression() &&
        parent.node.callee.type === 'Identifier' &&
        parent.node.callee.name === 'violation' &&
        typeof path.key === 'number' &&
        path.key >= 2
      )
        return 'the wording of a violation (its rule and path are pinned)';
      return undefined;
    },
  }),
];
