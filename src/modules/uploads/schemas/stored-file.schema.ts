import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

// One record per uploaded or generated file. The bytes live in storage under `storage_key`
// (never derived from the user's file name); `status` is `pending` while the upload streams and is
// scanned, `ready` once it may be read, `deleting` once the cleanup or a discard is deleting it. Signed URLs are never stored.
@Schema({ collection: 'files', versionKey: false })
export class StoredFile {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) owner_id!: string;
  @Prop({ type: String, default: null }) session_id!: string | null;
  // the user's file name, encrypted like message content (docs/protocol.md, "Uploads and files")
  @Prop() encrypted_name?: string;
  // the plain name of a record written before the privacy audit fix (read as it is)
  @Prop() name?: string;
  @Prop({ required: true, default: 0 }) size!: number;
  @Prop({ required: true }) mime_type!: string;
  @Prop({ required: true }) storage_key!: string;
  @Prop({ required: true }) status!: 'pending' | 'ready' | 'deleting';
  @Prop({ required: true }) source!: 'upload' | 'generated';
  // true once clamd passed it; false when scanning is off or for generated files
  @Prop({ default: false }) scanned!: boolean;
  @Prop({ default: false }) attached!: boolean;
  // attached under more than one session or room: never deleted with the messages of one of them
  @Prop({ default: false }) shared!: boolean;
  @Prop({ type: Date, default: null }) attached_at!: Date | null;
  @Prop({ required: true }) created_at!: Date;
  // a pending upload's last sign of life (its bytes still come); the cleanup goes by it
  @Prop({ type: Date, default: null }) alive_at!: Date | null;
}
export const StoredFileSchema = SchemaFactory.createForClass(StoredFile);
StoredFileSchema.index({ owner_id: 1, created_at: -1 });
// the cleanup's queries: unattached files by age, never-finished uploads by their last sign of life
StoredFileSchema.index({ attached: 1, created_at: 1 });
StoredFileSchema.index({ status: 1, alive_at: 1 });
// the late-scan sweep's: ready files never scanned in its order, so a batch reads only itself
// (FilesRepository.findUnscanned)
StoredFileSchema.index({ status: 1, scanned: 1, created_at: 1, _id: 1 });
// the files a purged session is the first scope of (SessionFiles.heldBy)
StoredFileSchema.index({ session_id: 1 });
