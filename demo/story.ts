/**
 * The demo's story, as data (the seed article's situation, dates relative to today):
 * a shop of four services, three backends and a frontend. Yesterday's release broke an old
 * feature. `payments` was not part of that release; `inventory` was, but had no build in the
 * release before it, so going back to that release's date must take inventory's older image
 * (the seed's special case). Develop builds sit in the same repositories and must be ignored,
 * and the stage apps in the same Marathon must stay untouched.
 */

export interface StoryService {
  name: string;
  /** Registry repository. */
  repository: string;
  role: 'backend' | 'frontend';
}

export interface StoryImage {
  service: string;
  tag: string;
  /** Days before today the image was built (0 = today). */
  daysAgo: number;
  /** What the build was, in the story's words (shown by the demo). */
  note?: string;
}

export const SERVICES: StoryService[] = [
  { name: 'orders', repository: 'shop/orders', role: 'backend' },
  { name: 'payments', repository: 'shop/payments', role: 'backend' },
  { name: 'inventory', repository: 'shop/inventory', role: 'backend' },
  { name: 'web', repository: 'shop/web', role: 'frontend' },
];

/** The environments as the registry spells them: CI tags prod builds -master, stage -stage, develop -develop. */
export const PROD_TAGS = '-master$';

export const IMAGES: StoryImage[] = [
  // Eight days ago: the release everyone trusts.
  { service: 'orders', tag: '101-master', daysAgo: 8 },
  { service: 'payments', tag: '201-master', daysAgo: 8 },
  { service: 'inventory', tag: '301-master', daysAgo: 8 },
  { service: 'web', tag: '401-master', daysAgo: 8 },
  { service: 'orders', tag: '102-develop', daysAgo: 7 },
  // Four days ago: a release without inventory (it had nothing new).
  { service: 'orders', tag: '103-master', daysAgo: 4 },
  { service: 'payments', tag: '202-master', daysAgo: 4 },
  { service: 'web', tag: '402-master', daysAgo: 4 },
  { service: 'orders', tag: '104-develop', daysAgo: 2 },
  { service: 'inventory', tag: '302-develop', daysAgo: 2 },
  { service: 'web', tag: '403-develop', daysAgo: 2 },
  // Yesterday: the release that broke an old feature; payments was not part of it.
  { service: 'orders', tag: '105-master', daysAgo: 1, note: 'broken' },
  { service: 'inventory', tag: '303-master', daysAgo: 1, note: 'broken' },
  { service: 'web', tag: '404-master', daysAgo: 1, note: 'broken' },
  // Stage and develop keep moving; the rollback of prod must not see them.
  { service: 'orders', tag: '106-stage', daysAgo: 0 },
  { service: 'web', tag: '405-develop', daysAgo: 0 },
];

/** The Marathon group of each environment, the seed's /<department>/<environment>/<service> ids. */
export const APP_PREFIX = { prod: '/shop/prod', stage: '/shop/stage' } as const;

/** Stage runs in the same Marathon; its apps are there to prove the rollback leaves them alone. */
export const STAGE_APPS: Record<string, string> = { orders: '106-stage', web: '402-master' };

const DAY_MS = 86_400_000;

/** The moment an image of the story was built, for a given "now": 10:00 UTC that day, never in the future. */
export function createdAt(daysAgo: number, now: Date): Date {
  const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 10) - daysAgo * DAY_MS);
  return day.getTime() <= now.getTime() ? day : new Date(now.getTime() - 60_000);
}

export function dayOf(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** Prod images in the story (the ones a rollback of prod may use). */
export function prodImages(): StoryImage[] {
  return IMAGES.filter((i) => new RegExp(PROD_TAGS).test(i.tag));
}

/** What prod runs before the demo: every service's newest prod image. */
export function runningBefore(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of SERVICES) {
    const newest = prodImages().filter((i) => i.service === s.name).sort((a, b) => a.daysAgo - b.daysAgo)[0];
    out[s.name] = newest.tag;
  }
  return out;
}

/**
 * The rollback point the demo picks when not asked: the newest date before the last release,
 * i.e. the second date of the list (the first is the release that broke).
 */
export function defaultDate(choices: string[]): string | undefined {
  return choices.length > 1 ? choices[1] : choices[0];
}
