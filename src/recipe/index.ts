/** Recipes: parsing, validation, serialisation, target matching. */
export { RecipeError, NotImplementedError, type SourceLocation } from './errors.js';
export { Recipe, type RecipeInput, type RecipeOptions, type RecipeStage } from './recipe.js';
export { loadRecipe, recipeFromFileText, type LoadRecipeOptions } from './load.js';
export { describeRecipe, type ModifierDescription, type RecipeDescription } from './describe.js';
export {
  FieldPath,
  camelCase,
  snakeCase,
  field,
  fieldsToPlain,
  parseFields,
  t,
  type CamelCase,
  type FieldSpec,
  type FieldType,
  type FieldsIn,
  type FieldsOut,
  type KeyStyle,
  type ParseContext,
} from './schema.js';
export {
  isMatch,
  lowestCommonAncestorName,
  matchClass,
  matchModulesSet,
  matchName,
  matchNamedModules,
  matchTargets,
  targetProblem,
  type MatchableModule,
  type ModuleTree,
  type Targets,
} from './match.js';
export { compilePythonRegex, pythonReMatch } from './pyRegex.js';
