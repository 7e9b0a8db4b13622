/**
 * Fan-out of run events to every notifier (Slack, GitHub Deployments, ...). Each notifier's
 * failure is reported as a warning naming it and never fails the rollback: the fleet matters more
 * than the message about it.
 */
import { describeError } from '../errors';
import { mask, type Logger } from '../log';
import type { Notifier, RunEvent } from './types';

export function fanOut(notifiers: Notifier[], logger: Logger): Notifier {
  return {
    name: notifiers.map((n) => n.name).join(', ') || 'none',
    async notify(event: RunEvent): Promise<void> {
      // A failure reason may quote what a server answered (an error body echoing a token): every
      // message leaves with the secrets masked, as log lines do.
      const masked = maskStrings(event);
      await Promise.all(notifiers.map(async (n) => {
        try {
          await n.notify(masked);
        } catch (err) {
          logger.warn(`${n.name} notification (${event.type}) failed, the rollback goes on: ${describeError(err)}`);
        }
      }));
    },
  };
}

/** A copy of a plain value (an event: strings, numbers, arrays, objects) with every string masked. */
function maskStrings<T>(value: T): T {
  if (typeof value === 'string') return mask(value) as T;
  if (Array.isArray(value)) return value.map(maskStrings) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskStrings(v)])) as T;
  return value;
}

/** Who approved the rollback: --approver, else the Jenkins user (build-user-vars plugin), else the login. */
export function approverOf(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag?.trim() || env.BUILD_USER?.trim() || env.BUILD_USER_ID?.trim() || env.USER?.trim() || 'unknown';
}
