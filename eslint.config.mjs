import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: ['dist/**', 'client/dist/**', 'coverage/**', '.tools/**', '.data/**', 'node_modules/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': ['error', { allow: ['warn', 'error'] }],
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'class-validator',
              importNames: ['IsOptional'],
              message:
                'IsOptional() lets null through too: use Optional() or OptionalOrNull() from src/common/http/optional-field.',
            },
            {
              name: 'class-validator',
              importNames: ['Length', 'MaxLength', 'MinLength'],
              message:
                'validator.js isLength counts "✔️" as one character, the sockets and JSON Schema as two: use CodePointLength() or MaxCodePoints() from src/common/text-length.',
            },
          ],
        },
      ],
    },
  },
  { files: ['src/common/http/optional-field.ts'], rules: { 'no-restricted-imports': 'off' } },
  { files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'], rules: { 'no-console': 'off' } },
);
