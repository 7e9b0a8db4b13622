/**
 * Fan-out of run events to every notifier (Slack, GitHub Deployments, ...). Each notifier's
 * failure is reported as a warning naming it and never fails the rollback: the fleet matters more
 * than the message about it.
 */
import { describeError } from '../errors';
import type { Logger } from '../log';
import type { Notifier, RunEvent } from './types';

export function fanOut(notifiers: Notifier[], logger: Logger): Notifier {
  return {
    name: notifiers.map((n) => n.name).join(', ') || 'none',
    async notify(event: RunEvent): Promise<void> {
      await Promise.all(notifiers.map(async (n) => {
        try {
          await n.notify(event);
        } catch (err) {
          logger.warn(`${n.name} notification (${event.type}) failed, the rollback goes on: ${describeError(err)}`);
        }
      }));
    },
  };
}

/** Who approved the rollback: --approver, else the Jenkins user (build-user-vars plugin), else the login. */
export function approverOf(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag?.trim() || env.BUILD_USER?.trim() || env.BUILD_USER_ID?.trim() || env.USER?.trim() || 'unknown';
}
