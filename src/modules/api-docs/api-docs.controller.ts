import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { AdminOnly, Public } from '../../common/auth/auth.decorators';
import { API_DOCS_HTML, API_DOCS_SCRIPT } from './api-docs.page';
import { API_DOCUMENT, type ApiDocument } from './api-document';

// The document is the app's own (built at boot from the live controllers); the routes here are
// left out of it since whether they exist depends on API_DOCS.
abstract class OpenApiJson {
  constructor(@Inject(API_DOCUMENT) private readonly document: ApiDocument) {}

  @Get('openapi.json')
  @Header('Cache-Control', 'no-store')
  openapi() {
    return this.document.get();
  }
}

@Controller('chat')
@ApiExcludeController()
@AdminOnly()
export class AdminOpenApiController extends OpenApiJson {}

@Controller('chat')
@ApiExcludeController()
@Public()
export class PublicOpenApiController extends OpenApiJson {}

// The page holds no data: what it shows comes from openapi.json under its own rule.
@Controller('chat/api-docs')
@ApiExcludeController()
@Public()
export class ApiDocsPageController {
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  page() {
    return API_DOCS_HTML;
  }

  @Get('init.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  script() {
    return API_DOCS_SCRIPT;
  }
}
