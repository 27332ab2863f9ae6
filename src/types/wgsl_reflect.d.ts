// wgsl_reflect's package "main" points at a CommonJS build inside a
// "type": "module" package, which Node refuses to import; its ES module build
// is the working entry, typed by the package's own declarations.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
