import type { OpenAPIObject } from '@nestjs/swagger';

export const API_DOCUMENT = Symbol('API_DOCUMENT');

// The OpenAPI document, built from the live app on its first request (not at every boot: the e2e
// suites start the app many times) and kept.
export class ApiDocument {
  private build?: () => OpenAPIObject;
  private document?: OpenAPIObject;

  buildWith(build: () => OpenAPIObject): void {
    this.build = build;
  }

  get(): OpenAPIObject {
    if (!this.build) throw new Error('the OpenAPI document has no builder');
    this.document ??= this.build();
    return this.document;
  }
}
