// Lint rules, including the import layering of docs/architecture.md:
// shared imports nothing of ours and no node:*; core imports shared only;
// cli enters core through core/index.ts only; relay imports shared only
// (and inside relay, server -> bus -> directory -> store, pipes alone);
// nothing imports tests/ or build/; renderer imports shared only (and
// talks to the engine through the API object it is given); electron/main
// enters core through core/index.ts; electron/preload imports shared only.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const others = (...folders) => ({
  regex: `(^|/)(${folders.join('|')})/`,
  message: 'docs/architecture.md: this folder may not import that one',
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench-results/**', 'release/**', 'test-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['bin/**/*.js', 'eslint.config.js'],
    languageOptions: { globals: { process: 'readonly' } },
  },
  {
    // Build scripts run on Node.
    files: ['build/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    files: ['shared/**/*.ts'],
    ignores: ['shared/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*'], message: 'shared/ is plain TypeScript: no node:*' }, others('core', 'cli', 'relay', 'electron', 'renderer', 'tests', 'build')] }],
    },
  },
  {
    files: ['core/**/*.ts'],
    ignores: ['core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [others('cli', 'relay', 'electron', 'renderer', 'tests', 'build')] }],
    },
  },
  {
    files: ['cli/**/*.ts'],
    ignores: ['cli/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            others('relay', 'electron', 'renderer', 'tests', 'build'),
            { regex: '(^|/)core/(?!index\\.js$)', message: 'docs/architecture.md: cli enters core through core/index.ts only' },
          ],
        },
      ],
    },
  },
  {
    files: ['relay/**/*.ts'],
    ignores: ['relay/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [others('core', 'cli', 'electron', 'renderer', 'tests', 'build')] }],
    },
  },
  // Inside relay/, imports point one way: server -> bus -> directory -> store, and pipes/ stands alone.
  ...Object.entries({ bus: ['server'], directory: ['server', 'bus', 'pipes'], pipes: ['server', 'bus', 'directory', 'store'], store: ['server', 'bus', 'directory', 'pipes'] }).map(([folder, banned]) => ({
    files: [`relay/${folder}/**/*.ts`],
    ignores: ['relay/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [others('core', 'cli', 'electron', 'renderer', 'tests', 'build'), { regex: `(^|/)(${banned.join('|')})/`, message: `docs/architecture.md: relay/${folder} may not import relay/${banned.join(', relay/')}` }] },
      ],
    },
  })),
  {
    files: ['renderer/**/*.{ts,tsx}'],
    ignores: ['renderer/**/*.test.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['node:*', 'electron'], message: 'renderer/ runs in a sandboxed page: no node:*, no electron' }, others('core', 'cli', 'relay', 'electron', 'tests', 'build')] },
      ],
    },
  },
  {
    files: ['electron/main/**/*.ts'],
    ignores: ['electron/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            others('cli', 'relay', 'renderer', 'tests', 'build', 'preload'),
            { regex: '(^|/)core/(?!index\\.js$)', message: 'docs/architecture.md: electron/main enters core through core/index.ts only' },
          ],
        },
      ],
      'no-restricted-syntax': ['error', { selector: "ImportSpecifier[imported.name='ipcMain']", message: 'ipcMain is used in electron/main/ipc.ts only' }],
    },
  },
  {
    files: ['electron/main/ipc.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['electron/preload/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*'], message: 'the preload is sandboxed: contextBridge only' }, others('core', 'cli', 'relay', 'renderer', 'tests', 'build', 'main')] }],
    },
  },
);
