/**
 * workerUrl is the URL of one of this package's worker thread entries, given as its built
 * path under dist/ (for example "etcd_format/image_worker_main.js"). The member runs from
 * dist/, where the entry sits next to this module. When this module is loaded from its
 * TypeScript source (the package's tests, which Node cannot start a worker from), the built
 * entry in dist/ is used: the tests run after the build.
 */
export function workerUrl(path: string): URL {
  const here = import.meta.url;
  return here.endsWith(".ts") ? new URL(`../dist/${path}`, here) : new URL(`./${path}`, here);
}
