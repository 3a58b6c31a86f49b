export { applyLayer, type ApplyOptions, type ApplyResult, type WhiteoutMode } from './apply';
export { cleanComponents, cleanName, resolveInRoot, resolveParent } from './paths';
