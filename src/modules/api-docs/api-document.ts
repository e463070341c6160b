import type { OpenAPIObject } from '@nestjs/swagger';

export const API_DOCUMENT = Symbol('API_DOCUMENT');

// Holds the OpenAPI document, set once the app (and so every controller) exists.
export class ApiDocument {
  private document?: OpenAPIObject;

  set(document: OpenAPIObject): void {
    this.document = document;
  }

  get(): OpenAPIObject {
    if (!this.document) throw new Error('the OpenAPI document was not built');
    return this.document;
  }
}
