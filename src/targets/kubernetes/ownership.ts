/**
 * Who else manages a workload, read from the metadata those controllers write:
 * - Argo CD: the annotation argocd.argoproj.io/tracking-id (annotation tracking), or the label
 *   app.kubernetes.io/instance (its default label tracking):
 *   https://argo-cd.readthedocs.io/en/stable/user-guide/resource_tracking/
 * - Flux: the labels kustomize.toolkit.fluxcd.io/name|namespace (kustomize-controller) and
 *   helm.toolkit.fluxcd.io/name|namespace (helm-controller):
 *   https://fluxcd.io/flux/components/kustomize/kustomizations/
 * - Helm: the annotation meta.helm.sh/release-name, or the label app.kubernetes.io/managed-by: Helm:
 *   https://helm.sh/docs/chart_best_practices/labels/
 * Each of them puts its own image back (self-heal, the next reconcile, the next `helm upgrade`), so
 * a patch by this tool does not last; the guard names the way that does.
 */
export interface Owner {
  controller: 'Argo CD' | 'Flux' | 'Helm';
  /** "application shop-prod", "Kustomization flux-system/shop", "release shop". */
  what: string;
  /** The label or annotation that says so. */
  evidence: string;
  /** The way that works instead, for the refusal. */
  way: string;
}

interface Meta {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function ownerOf(meta: Meta | undefined): Owner | undefined {
  const labels = meta?.labels ?? {};
  const annotations = meta?.annotations ?? {};
  const tracking = annotations['argocd.argoproj.io/tracking-id'];
  if (tracking) {
    // <application>:<group>/<kind>:<namespace>/<name>; the application may be <namespace>_<name>.
    const app = tracking.split(':')[0];
    return { controller: 'Argo CD', what: `application ${app}`, evidence: 'annotation argocd.argoproj.io/tracking-id', way: argoWay(app) };
  }
  for (const [prefix, kind] of [['kustomize.toolkit.fluxcd.io', 'Kustomization'], ['helm.toolkit.fluxcd.io', 'HelmRelease']] as const) {
    const name = labels[`${prefix}/name`];
    if (name) {
      const ns = labels[`${prefix}/namespace`];
      const ref = ns ? `${ns}/${name}` : name;
      const suspend = `flux suspend ${kind === 'Kustomization' ? 'kustomization' : 'helmrelease'} ${name}${ns ? ` -n ${ns}` : ''}`;
      return {
        controller: 'Flux', what: `${kind} ${ref}`, evidence: `label ${prefix}/name`,
        way: `roll back through the GitOps target on the repository Flux reconciles, or '${suspend}' first`,
      };
    }
  }
  const release = annotations['meta.helm.sh/release-name'];
  if (release || labels['app.kubernetes.io/managed-by'] === 'Helm') {
    const ns = annotations['meta.helm.sh/release-namespace'];
    const name = release ?? labels['app.kubernetes.io/instance'] ?? '?';
    return {
      controller: 'Helm', what: `release ${name}`, evidence: release ? 'annotation meta.helm.sh/release-name' : 'label app.kubernetes.io/managed-by=Helm',
      way: `roll back with 'helm rollback ${name}${ns ? ` -n ${ns}` : ''}' or through the chart's values in Git, since the next 'helm upgrade' would bring its image back`,
    };
  }
  const instance = labels['app.kubernetes.io/instance'];
  if (instance) {
    return { controller: 'Argo CD', what: `application ${instance}`, evidence: 'label app.kubernetes.io/instance (Argo CD label tracking)', way: argoWay(instance) };
  }
  return undefined;
}

function argoWay(app: string): string {
  return `roll back through the GitOps target on the manifests repository of application ${app}, or turn off its automated sync and self-heal first`;
}

/** "Argo CD application shop-prod (annotation argocd.argoproj.io/tracking-id)". */
export function describeOwner(o: Owner): string {
  return `${o.controller} ${o.what} (${o.evidence})`;
}
