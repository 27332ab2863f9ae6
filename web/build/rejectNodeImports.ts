/**
 * Vite plugin shared by the demo page's build and dev server
 * (web/vite.config.ts) and the browser tests (test/browser/harness.ts): the
 * browser bundle must not reach Node built-ins or Dawn's Node bindings. Vite
 * would otherwise swap such a module for an empty stub and the page would
 * break at run time, far from the import that caused it.
 *
 * A static import fails the build (and the dev server's transform), naming
 * the importing file. A dynamic `import('node:…')` is how a browser-safe
 * module reaches a Node-only default behind a runtime check
 * (src/recipe/load.ts reads recipe files that way), so it is rewritten to a
 * module that throws a clear error if it is ever loaded in the browser.
 */
import { builtinModules } from 'node:module';
import type { Plugin } from 'vite';

const MARK = 'wgc-node-unavailable:';
const DYNAMIC_IMPORT = /\bimport\(\s*(['"])([^'"]+)\1\s*\)/g;

export function rejectNodeImports(): Plugin {
  const builtins = new Set(builtinModules);
  const nodeOnly = (source: string): boolean => {
    const bare = source.replace(/^node:/, '').split('/')[0];
    return source.startsWith('node:') || builtins.has(bare) || source === 'webgpu' || source.startsWith('webgpu/');
  };
  return {
    name: 'wgc-reject-node-imports',
    enforce: 'pre',
    transform(code, id) {
      if (id.includes('/node_modules/') || !/\.[cm]?[jt]s$/.test(id.split('?')[0]) || !code.includes('import(')) return null;
      let changed = false;
      const out = code.replace(DYNAMIC_IMPORT, (all, q: string, source: string) => {
        if (!nodeOnly(source)) return all;
        changed = true;
        return `import(${q}${MARK}${source}?from=${encodeURIComponent(id)}${q})`;
      });
      return changed ? { code: out, map: null } : null;
    },
    resolveId(source, importer, options) {
      if (source.startsWith(MARK)) return `\0${source}`;
      if (!nodeOnly(source)) return null;
      // Vite's dependency scan reads sources untransformed; the real check runs when the module is transformed.
      if ((options as { scan?: boolean }).scan) return { id: source, external: true };
      this.error(`${importer ?? '(entry)'} imports "${source}": the browser-safe core (src/index.ts) must not use Node-only modules; keep them under src/gpu/node/, src/io/node/ or src/node.ts`);
    },
    load(id) {
      if (!id.startsWith(`\0${MARK}`)) return null;
      const [source, query] = id.slice(MARK.length + 1).split('?from=');
      const from = decodeURIComponent(query ?? '');
      return `throw new Error(${JSON.stringify(`${source} is Node-only and not available in the browser (dynamically imported by ${from})`)});\nexport {};\n`;
    },
  };
}
