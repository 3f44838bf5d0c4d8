// The environment ConfigMap (which databases this PR declares) is validated by the baseline module's rules.
import { validateEnvironmentConfigMap } from '../policies/baseline.ts';
import type { Config } from '../policies/config.ts';
import type { Violation } from '../policies/violation.ts';

export function validateEnvironment(object: unknown, _config: Config): Violation[] {
  return validateEnvironmentConfigMap(object);
}
