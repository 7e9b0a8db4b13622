import { RollbackError } from '../../src/errors';

/** The RollbackError a promise rejects with; fails the test when it resolves or throws something else. */
export async function rejection(p: Promise<unknown>): Promise<RollbackError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RollbackError);
    return err as RollbackError;
  }
  throw new Error('expected a rejection');
}
