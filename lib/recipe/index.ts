// lib/recipe's public surface: training from a recipe file (what `qlora-lab train` runs).
export { validateRecipe, RECIPE_KEYS, type Recipe, type ValidateRecipeOptions } from "./recipe_schema.js";
export { readRecipeFile, applyOverrides } from "./recipe_file.js";
export { trainFromRecipe, resolveRecipe, recipeOutputs, type TrainFromRecipeOptions, type RecipeRunResult, type RecipeOutputs } from "./recipe_run.js";
