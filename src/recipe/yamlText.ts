import { Document, isScalar, visit } from 'yaml';

/**
 * YAML text for recipe data: lists of scalars inline (`[lm_head, Linear]`),
 * and strings that YAML 1.1 readers (PyYAML, hence llm-compressor) would read
 * as numbers or booleans, such as `"2:4"` or `"yes"`, quoted.
 */
export function toYamlText(value: unknown): string {
  const doc = new Document(value, { version: '1.1' });
  visit(doc, {
    Seq(_, node) {
      if (node.items.every((i) => isScalar(i))) node.flow = true;
    },
  });
  return doc.toString({ flowCollectionPadding: false, lineWidth: 0 });
}
