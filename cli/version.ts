/** The version of Shoal (see src/util/version.ts). */

export { SHOAL_VERSION } from '../src/util/version.js'
